"""Where the API's email rows come from: `tasks.records`, shared with workers and the CLI."""

from tasks.records import create_email, message_id_for

__all__ = ["create_email", "message_id_for"]
