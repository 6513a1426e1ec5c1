"""Pages for people: the ops list and the parcel page, rendered on the server."""
