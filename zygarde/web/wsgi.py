"""WSGI entry point: `gunicorn zygarde.web.wsgi:app` (settings from the environment)."""
import logging

from zygarde.web.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
app = create_app()
