"""`/lists`: recipient lists for batch sends, filled from JSON or a CSV upload.

Scopes follow what a call does, as the contract's do: building or changing a list is part of
sending (`send`), looking at one is reading (`read`).
"""

from __future__ import annotations

import base64
import binascii
import io
import uuid
from typing import IO, Any

from flask import jsonify, request
from flask.views import MethodView
from kombu.exceptions import KombuError
from marshmallow import fields, validate
from sqlalchemy import select

from api.addresses import AddressError
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest, NotFound, ServiceUnavailable
from api.list_rows import MAX_NAME, CsvError, Member, RowError, member_email, read_members
from api.schemas import BaseSchema, envelope, success
from models import ImportState, ListImport, ListMember, RecipientList
from tasks.list_imports import create_import, enqueue_import
from tasks.lists import MemberWriter

bp = Blueprint("lists", __name__, description="Recipient lists")

MAX_MEMBERS_PER_REQUEST = 1000
# A CSV up to this size is imported in the request (about 20,000 rows, well under a second);
# a larger one in the background, so no import runs into the server's request timeout.
SYNC_IMPORT_BYTES = 1024 * 1024
# An import done in the request reports this many bad rows at most (`skipped` counts them all).
MAX_REPORTED_ERRORS = 100
CSV_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}


class ListInSchema(BaseSchema):
    """The body of `POST /lists`."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ListOutSchema(BaseSchema):
    """A list without its members."""

    list_id = fields.UUID(data_key="listId", attribute="id")
    name = fields.String()
    member_count = fields.Integer(data_key="memberCount")
    created_at = fields.AwareDateTime(data_key="createdAt")
    updated_at = fields.AwareDateTime(data_key="updatedAt")


class MemberOutSchema(BaseSchema):
    """One member."""

    email = fields.String()
    name = fields.String(allow_none=True)
    variables = fields.Dict()
    suppressed = fields.Boolean()
    created_at = fields.AwareDateTime(data_key="createdAt")


class MemberPageSchema(BaseSchema):
    """A page of members, by email."""

    items = fields.List(fields.Nested(MemberOutSchema))
    next_cursor = fields.String(data_key="nextCursor", allow_none=True)


class ListDetailSchema(ListOutSchema):
    """A list with the first page of its members."""

    members = fields.Nested(MemberPageSchema)


class LimitSchema(BaseSchema):
    """`limit` query parameter."""

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class MemberPagingSchema(LimitSchema):
    """`limit` and `cursor` query parameters."""

    cursor = fields.String()


class MemberInSchema(BaseSchema):
    """One member to add; `email` is checked by the view, to name its index in the error."""

    email = fields.String(required=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_NAME))
    variables = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=100)),
        load_default=dict,
        validate=validate.Length(max=200),
    )


class MembersInSchema(BaseSchema):
    """The body of `POST /lists/<id>/members`."""

    members = fields.List(
        fields.Nested(MemberInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_MEMBERS_PER_REQUEST),
    )


class MembersAddedSchema(BaseSchema):
    """What adding members did: `added` new members, `updated` ones already in the list."""

    added = fields.Integer()
    updated = fields.Integer()
    duplicates = fields.Integer()
    suppressed = fields.Integer()
    member_count = fields.Integer(data_key="memberCount")


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


class ImportSchema(BaseSchema):
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
    imported = fields.Integer()
    updated = fields.Integer()
    duplicates = fields.Integer()
    suppressed = fields.Integer()
    skipped = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorSchema))
    failure = fields.String(allow_none=True)
    member_count = fields.Integer(data_key="memberCount")
    created_at = fields.AwareDateTime(data_key="createdAt")
    finished_at = fields.AwareDateTime(data_key="finishedAt", allow_none=True)


def encode_email_cursor(email: str) -> str:
    """An opaque cursor pointing just after this member."""
    return base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")


def decode_email_cursor(cursor: str) -> str:
    """The email a cursor points after; 400 for anything this API did not hand out."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        email = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (ValueError, binascii.Error) as err:  # UnicodeDecodeError is a ValueError
        raise BadRequest("`cursor` is not a cursor this API gave out") from err
    if not email:
        raise BadRequest("`cursor` is not a cursor this API gave out")
    return email


def _get(list_id: uuid.UUID) -> RecipientList:
    found = db().get(RecipientList, list_id)
    if found is None:
        raise NotFound(f"List `{list_id}` not found")
    return found


def _members_page(list_id: uuid.UUID, limit: int, cursor: str | None) -> dict[str, Any]:
    stmt = select(ListMember).where(ListMember.list_id == list_id)
    if cursor:
        stmt = stmt.where(ListMember.email > decode_email_cursor(cursor))
    rows = list(db().scalars(stmt.order_by(ListMember.email).limit(limit + 1)))
    next_cursor = encode_email_cursor(rows[limit - 1].email) if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


def _checked(members: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every member's checked email, or a 400 naming the first bad one by its index."""
    checked = []
    for index, member in enumerate(members):
        try:
            checked.append((member_email(member["email"]), member))
        except AddressError as err:
            raise BadRequest(f"`members.{index}`: {err}") from err
    return checked


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


@bp.route("/lists")
class Lists(MethodView):
    """Create lists."""

    @require_scope("send")
    @bp.arguments(ListInSchema)
    @bp.response(201, envelope("ListResponse", ListOutSchema))
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create an empty list (scope `send`: lists exist to be sent to)."""
        recipients = RecipientList(name=data["name"], member_count=0)
        db().add(recipients)
        db().commit()
        return success("List created", recipients)


@bp.route("/lists/<uuid:list_id>")
class ListById(MethodView):
    """Read or delete one list."""

    @require_scope("read")
    @bp.arguments(LimitSchema, location="query")
    @bp.response(200, envelope("ListDetailResponse", ListDetailSchema))
    def get(self, query: dict[str, Any], list_id: uuid.UUID) -> dict[str, Any]:
        """The list, its member count and its first page of members (scope `read`)."""
        found = _get(list_id)
        columns = ("id", "name", "member_count", "created_at", "updated_at")
        data = {name: getattr(found, name) for name in columns}
        data["members"] = _members_page(list_id, query["limit"], None)
        return success("List found", data)

    @require_scope("send")
    @bp.response(200, envelope("ListDeleted", ListOutSchema))
    def delete(self, list_id: uuid.UUID) -> dict[str, Any]:
        """Delete a list and its members (scope `send`, as for building it)."""
        found = _get(list_id)
        db().delete(found)
        db().commit()
        return success("List deleted", found)


@bp.route("/lists/<uuid:list_id>/members")
class ListMembers(MethodView):
    """Page through a list's members, or add some."""

    @require_scope("read")
    @bp.arguments(MemberPagingSchema, location="query")
    @bp.response(200, envelope("MemberPageResponse", MemberPageSchema))
    def get(self, query: dict[str, Any], list_id: uuid.UUID) -> dict[str, Any]:
        """Members ordered by email, a page at a time (scope `read`)."""
        _get(list_id)
        page = _members_page(list_id, query["limit"], query.get("cursor"))
        return success(f"{len(page['items'])} members", page)

    @require_scope("send")
    @bp.arguments(MembersInSchema)
    @bp.response(200, envelope("MembersAddedResponse", MembersAddedSchema))
    def post(self, data: dict[str, Any], list_id: uuid.UUID) -> dict[str, Any]:
        """Add or update up to 1,000 members; one bad address stores nothing (scope `send`)."""
        checked = _checked(data["members"])
        _get(list_id)
        writer = MemberWriter(db(), list_id)
        for email, member in checked:
            writer.add(email, member["name"], member["variables"])
        count = writer.finish()
        db().commit()
        return success(
            "Members added",
            {
                "added": writer.added,
                "updated": writer.updated,
                "duplicates": writer.duplicates,
                "suppressed": writer.suppressed,
                "member_count": count,
            },
        )


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
