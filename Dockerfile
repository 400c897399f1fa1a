# Kennel's image: one image for web (gunicorn), worker and beat; see docker-compose.yml.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 KENNEL_VAR_DIR=/var/lib/kennel
RUN apt-get update \
 && apt-get install -y --no-install-recommends gettext qemu-utils ipmitool \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app --shell /usr/sbin/nologin kennel \
 && mkdir -p /var/lib/kennel && chown kennel /var/lib/kennel
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir uv==0.13.9 && uv pip install --system --no-cache -r requirements.lock
COPY . .
# cloud-init's schema (from Debian's package, not installed) lives in the image, not in the data volume.
RUN KENNEL_VAR_DIR=/app/var scripts/cloudinit-schema.sh
ENV KENNEL_CLOUDINIT_SCHEMA=/app/var/cloud-init/schema-cloud-config-v1.json
RUN uv pip install --system --no-deps . \
 && python manage.py compilemessages -v0 \
 && KENNEL_STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput -v0
ENV KENNEL_STATIC_ROOT=/app/staticfiles
USER kennel
EXPOSE 8000
CMD ["gunicorn", "kennel.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
