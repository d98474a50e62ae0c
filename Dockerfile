# The forecast service in a container: CPU torch, the project with its serve extra, a non-root user, and a
# HEALTHCHECK on /health (docs/service.md, "In a container"). Build and run:
#   docker build -t social-xlstm-serve .
#   docker run -p 8000:8000 -e SOCIAL_XLSTM_API_KEY="$(cat key)" \
#       -v "$PWD/models:/models:ro" -v social-xlstm-state:/state social-xlstm-serve
FROM python:3.11-slim

# CPU torch first, from PyTorch's CPU index: the project's torch>=2.4 is then already met, and pip does not
# pull a multi-GB CUDA build into an image that has no GPU.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /opt/social-xlstm
COPY pyproject.toml README.md ./
COPY social_xlstm ./social_xlstm
RUN pip install --no-cache-dir '.[serve]'

# Not root: the service reads the model and writes only its state snapshots.
RUN useradd --create-home --uid 10001 forecaster && mkdir -p /state && chown forecaster /state
USER forecaster
VOLUME ["/state"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"

# Listening beyond the container needs the API key ($SOCIAL_XLSTM_API_KEY or --api-key-file): without one
# the service refuses --host 0.0.0.0 and exits 2.
ENTRYPOINT ["social-xlstm", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--checkpoint", "/models/model.ckpt", "--state", "/state/state.pt", "--snapshot-every", "12"]
