"""Every part's tables, imported once so the metadata and the migrations see them all."""

from phasegate.data import models as data_models
from phasegate.evaluation import models as evaluation_models
from phasegate.identity import models as identity_models
from phasegate.lifecycle import models as lifecycle_models
from phasegate.portfolio import models as portfolio_models
from phasegate.rollout import models as rollout_models

__all__ = [
    "data_models",
    "evaluation_models",
    "identity_models",
    "lifecycle_models",
    "portfolio_models",
    "rollout_models",
]
