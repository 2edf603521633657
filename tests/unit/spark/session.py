"""Starting and stopping a local[2] SparkSession for tests (zygarde.local.spark_session)."""
from zygarde.local.spark_session import local_session

__all__ = ["local_session"]
