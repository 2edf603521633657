"""The Zygarde web app (Flask): datasets, the job form, jobs with live progress, models."""
