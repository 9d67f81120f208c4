"""CSV imports into a list: small files in the request, larger ones in the background.

`POST /lists/<id>/import` takes a CSV with an `email` column (extra columns become the
member's variables). Up to `SYNC_IMPORT_BYTES` it is imported before the answer (200 with the
counts); a larger file, or any with `Prefer: respond-async` (RFC 7240), is stored and imported
by a worker (202), and `GET /lists/<id>/imports/<importId>` shows how far it got.
"""

from __future__ import annotations

import io
import uuid
from typing import IO, Any

from flask import jsonify, request
from flask.views import MethodView
from kombu.exceptions import KombuError
from marshmallow import fields

from api.auth import require_scope
from api.db import db
from api.errors import BadRequest, NotFound, ServiceUnavailable
from api.list_rows import CsvError, Member, RowError, read_members
from api.lists import CSV_BODY, _get, bp
from api.schemas import BaseSchema, envelope, success
from models import ImportState, ListImport, RecipientList
from tasks.list_imports import create_import, enqueue_import
from tasks.lists import MemberWriter

# A CSV up to this size is imported in the request (about 20,000 rows, well under a second);
# a larger one in the background, so no import runs into the server's request timeout.
SYNC_IMPORT_BYTES = 1024 * 1024
# An import done in the request reports this many bad rows at most (`skipped` counts them all).
MAX_REPORTED_ERRORS = 100


class RowErrorSchema(BaseSchema):
    """A CSV row left out."""

    line = fields.Integer()
    error = fields.String()


IMPORT_COLUMNS = (
    "id",
    "list_id",
    "state",
    "total_bytes",
    "bytes_done",
    "rows_done",
    "imported",
    "updated",
    "duplicates",
    "suppressed",
    "skipped",
    "errors",
    "failure",
    "created_at",
    "finished_at",
)


class ImportedSchema(BaseSchema):
    """What an import done in the request did: `imported` new members, `updated` ones
    already in the list."""

    imported = fields.Integer()
    updated = fields.Integer()
    duplicates = fields.Integer()
    suppressed = fields.Integer()
    skipped = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorSchema))
    member_count = fields.Integer(data_key="memberCount")


class ImportSchema(ImportedSchema):
    """A CSV import: `state` pending, running, done or failed; its counts so far.

    `imported` counts new members, `updated` ones already in the list, `skipped` bad rows (the
    first 1,000 of them in `errors`); `bytesDone` of `totalBytes` tells the progress.
    """

    import_id = fields.UUID(data_key="importId", attribute="id")
    list_id = fields.UUID(data_key="listId")
    state = fields.String()
    total_bytes = fields.Integer(data_key="totalBytes")
    bytes_done = fields.Integer(data_key="bytesDone")
    rows_done = fields.Integer(data_key="rowsDone")
    failure = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt")
    finished_at = fields.AwareDateTime(data_key="finishedAt", allow_none=True)


def _csv_upload() -> IO[bytes]:
    """The uploaded CSV: the multipart field `file`, or a `text/csv` body (413 when too large)."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("the upload has no `file` field")
        return upload.stream
    if request.mimetype == "text/csv":
        # Werkzeug's stream enforces MAX_CONTENT_LENGTH while it is read, chunked bodies too.
        return io.BufferedReader(request.stream)  # type: ignore[type-var]
    raise BadRequest("send the CSV as multipart/form-data (field `file`) or as text/csv")


@bp.route("/lists/<uuid:list_id>/import")
class ListImportStart(MethodView):
    """Fill a list from a CSV file, in the background."""

    @require_scope("send")
    @bp.doc(
        requestBody=CSV_BODY,
        parameters=[
            {
                "in": "header",
                "name": "Prefer",
                "required": False,
                "schema": {"type": "string", "enum": ["respond-async"]},
                "description": "import in the background and answer 202 at once (RFC 7240)",
            }
        ],
    )
    @bp.response(200, envelope("ListImportResponseDone", ImportedSchema))
    @bp.alt_response(202, schema=envelope("ListImportAccepted", ImportSchema))
    def post(self, list_id: uuid.UUID) -> Any:
        """Import a CSV with an `email` column (scope `send`); bad rows are reported and
        skipped.

        A file of up to 1 MiB is imported in the request: 200 with the counts, as before. A
        larger one, or any with `Prefer: respond-async`, is stored and imported by a worker:
        202 with the import, which `GET /lists/<id>/imports/<importId>` follows. A file that
        cannot be a member CSV (no `email` column, not UTF-8) is a 400 and stores nothing.
        """
        data = _csv_upload().read()
        if len(data) <= SYNC_IMPORT_BYTES and "respond-async" not in request.headers.get(
            "Prefer", ""
        ):
            return _import_now(list_id, data)
        _get(list_id)
        _check_csv(data)
        job = create_import(db(), list_id, data)
        db().commit()
        try:
            enqueue_import(job.id)
        except (KombuError, OSError) as err:
            job.state, job.failure, job.data = ImportState.FAILED, "broker unavailable", None
            db().commit()
            raise ServiceUnavailable(f"broker unavailable: import {job.id} not queued") from err
        answer = _IMPORT_ACCEPTED.dump(success("Import queued", _import_data(job)))
        return jsonify(answer), 202


def _import_now(list_id: uuid.UUID, data: bytes) -> dict[str, Any]:
    """Import a small CSV in the request: every row written before the answer."""
    _get(list_id)
    writer = MemberWriter(db(), list_id)
    errors: list[RowError] = []
    skipped = 0
    try:
        for row in read_members(io.BytesIO(data)):
            if isinstance(row, Member):
                writer.add(row.email, row.name, row.variables)
            else:
                skipped += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(row)
    except CsvError as err:
        db().rollback()
        raise BadRequest(str(err)) from err
    count = writer.finish()
    db().commit()
    return success(
        f"{writer.added + writer.updated} members imported",
        {
            "imported": writer.added,
            "updated": writer.updated,
            "duplicates": writer.duplicates,
            "suppressed": writer.suppressed,
            "skipped": skipped,
            "errors": errors,
            "member_count": count,
        },
    )


_IMPORT_ACCEPTED = envelope("ListImportAccepted", ImportSchema)()


@bp.route("/lists/<uuid:list_id>/imports/<uuid:import_id>")
class ListImportById(MethodView):
    """How far an import got."""

    @require_scope("read")
    @bp.response(200, envelope("ListImportResponse", ImportSchema))
    def get(self, list_id: uuid.UUID, import_id: uuid.UUID) -> dict[str, Any]:
        """The import's state, rows done, counts and bad rows so far (scope `read`)."""
        job = db().get(ListImport, import_id)
        if job is None or job.list_id != list_id:
            raise NotFound(f"Import `{import_id}` not found")
        return success(f"Import {job.state}", _import_data(job))


def _check_csv(data: bytes) -> None:
    """400 now for a file that cannot be a member CSV: not UTF-8, or no usable header."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise BadRequest(f"line {line} of the CSV is not UTF-8 text") from err
    try:
        next(read_members(io.BytesIO(data)), None)  # reads the header and the first row
    except CsvError as err:
        raise BadRequest(str(err)) from err


def _import_data(job: ListImport) -> dict[str, Any]:
    recipients = db().get(RecipientList, job.list_id)
    return {
        **{name: getattr(job, name) for name in IMPORT_COLUMNS},
        "member_count": recipients.member_count if recipients else 0,
    }
