"""MLflow "models from code" entry: the file `log_model` records instead of a pickle."""

from mlflow.models import set_model

from training.pyfunc import StallguardModel

set_model(StallguardModel())
