# syntax=docker/dockerfile:1
# One image for every Mailroom process; the command picks the role (docker-compose.yml shows all):
#   api (default)  gunicorn -c python:mailroom.gunicorn_conf mailroom.wsgi:app
#   worker         celery -A tasks.app worker --pool prefork
#   beat           celery -A tasks.app beat            (exactly one per deployment)
#   flower         celery -A tasks.app flower          (needs FLOWER_BASIC_AUTH)
#   migrate        mailroom db upgrade                 (one-shot, before the others start)
# No secret is baked in: every setting comes from the environment at run time.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/mailroom
WORKDIR /src
COPY pyproject.toml setup.cfg README.md LICENSE celeryconfig.py ./
COPY requirements/constraints.txt ./requirements/
COPY api ./api
COPY console ./console
COPY tasks ./tasks
COPY models ./models
COPY render ./render
COPY providers ./providers
COPY storage ./storage
COPY store ./store
COPY mailroom ./mailroom
COPY migrations ./migrations
# A regular (not editable) install: the runtime image needs the virtualenv, not the sources. The
# constraints pin every dependency, so an image built today and one built next month agree.
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/mailroom/bin/pip install -c requirements/constraints.txt .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/mailroom/bin:$PATH \
    MAILROOM_VAR_DIR=/var/lib/mailroom \
    API_BIND=0.0.0.0:8000
# A fixed numeric uid so volumes and Kubernetes' runAsNonRoot agree with the image. The folders
# exist in the image so named volumes mounted on them start out owned by this user.
RUN groupadd --system --gid 10001 mailroom \
 && useradd --system --uid 10001 --gid mailroom --home-dir /var/lib/mailroom --no-create-home \
      --shell /usr/sbin/nologin mailroom \
 && install -d -o mailroom -g mailroom -m 0750 \
      /var/lib/mailroom /var/lib/mailroom/storage /var/lib/mailroom/outbox
COPY --from=build /opt/mailroom /opt/mailroom
WORKDIR /var/lib/mailroom
USER 10001:10001
EXPOSE 8000 5555
# For the api role; docker-compose.yml gives the other roles their own checks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; port = os.environ.get('API_BIND', ':8000').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"
CMD ["gunicorn", "-c", "python:mailroom.gunicorn_conf", "mailroom.wsgi:app"]
