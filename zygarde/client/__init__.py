"""The Python client: `zygarde.Client` (client.py), its `Job` (jobs.py) and `Model` (models.py)."""
from zygarde.client.client import Client
from zygarde.client.jobs import Job, JobStatus
from zygarde.client.models import Model

__all__ = ["Client", "Job", "JobStatus", "Model"]
