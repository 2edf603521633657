"""The array metrics (zygarde.domain.metric_arrays, pure), where the Spark side imports them."""
from zygarde.domain.metric_arrays import (  # noqa: F401 - re-exported
    EPS, NUM_BINS, binary_areas, classification, confusion_metrics, evaluate, finite, mcc, regression,
)
