"""The array metrics (zygarde.domain.metric_arrays), where the Spark side has always imported them."""
from zygarde.domain.metric_arrays import (EPS, NUM_BINS, binary_areas, classification, evaluate,  # noqa: F401
                                         regression)
