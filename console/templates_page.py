"""One template: its variables as a form, a sandboxed preview, and a test send."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, make_response, redirect, render_template, request, url_for

from api.db import db
from api.errors import ApiError
from api.send import send_email
from console.blueprint import bp, needs
from console.emails import PREVIEW_CSP
from console.errors import ConsoleError
from mailroom.specs import TemplateLoader, load_brand
from models import Template
from render import Rendered, RenderError, finalize
from render import render_template as render_email
from store.request import SendRequest

VAR_PREFIX = "var."
TEST_TAG = "console-test"


def _template(template_id: uuid.UUID) -> Template:
    template = db().get(Template, template_id)
    if template is None:
        raise ConsoleError(404, f"Template `{template_id}` not found")
    return template


def _variables(values: Any) -> dict[str, str]:
    """The `var.<name>` fields of a form or query string, blank ones left out (defaults)."""
    return {
        k.removeprefix(VAR_PREFIX): v for k, v in values.items() if k.startswith(VAR_PREFIX) and v
    }


def _rendered(template: Template, variables: dict[str, str]) -> Rendered:
    """The template as an email of it would carry it, or a 400 page naming the error."""
    loader = TemplateLoader(db())
    spec = loader.spec(str(template.id))
    if spec is None:
        raise ConsoleError(404, f"Template `{template.id}` not found")
    try:
        rendered = render_email(spec, variables, lang=template.lang, lookup=loader.spec)
        return finalize(
            rendered,
            brand=load_brand(db(), template.brand_id),
            brand_styles=template.brand_styles,
            custom_style=None,
        )
    except RenderError as err:
        raise ConsoleError(400, err.message) from err


@bp.get("/templates/<uuid:template_id>")
def template(template_id: uuid.UUID) -> str:
    """The template's variables form, its preview and the test-send form."""
    found = _template(template_id)
    variables = _variables(request.args)
    try:
        rendered, error = _rendered(found, variables), None
    except ConsoleError as err:  # a required variable left blank: say so beside the form
        rendered, error = None, err.message
    query: dict[str, Any] = {f"{VAR_PREFIX}{k}": v for k, v in variables.items()}
    return render_template(
        "console/template.html",
        template=found,
        variables=variables,
        rendered=rendered,
        error=error,
        preview_url=url_for("console.template_preview", template_id=template_id, **query),
        notice=request.args.get("notice"),
    )


@bp.get("/templates/<uuid:template_id>/preview")
def template_preview(template_id: uuid.UUID) -> Response:
    """The rendered HTML part, for the sandboxed frame: no script, nothing fetched."""
    rendered = _rendered(_template(template_id), _variables(request.args))
    response = make_response(rendered.html or "<p>(no HTML part)</p>")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/templates/<uuid:template_id>/test")
@needs("send")
def send_test(template_id: uuid.UUID) -> Any:
    """Send the template with the form's variables to the address given (yours)."""
    found = _template(template_id)
    to = request.form.get("to", "").strip()
    if not to:
        raise ConsoleError(400, "`to` is required: the address to send the test to")
    sent_request = SendRequest(
        from_addr=request.form.get("from", "").strip() or None,
        to=(to,),
        template_id=found.id,
        variables=_variables(request.form),
        tags=(TEST_TAG,),
    )
    try:
        answer = send_email(sent_request).answer
    except ApiError as err:
        raise ConsoleError(err.status, err.reason) from err
    email_id = answer["data"]["emailId"]
    return redirect(url_for("console.email", email_id=email_id, notice="Test sent"), code=303)
