"""Takos settings: every backend is chosen here from environment variables.

The embedded default (no variables set) keeps everything under TAKOS_DATA_DIR:
SQLite, a filesystem Celery broker, filesystem object storage and git repositories.
Setting DATABASE_URL / REDIS_URL / CELERY_BROKER_URL / TAKOS_S3_BUCKET switches to the
production backends without any code change.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (Docker secrets)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = env(name, "")
    if raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = env(name, "")
    return int(raw) if raw.strip() else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


TAKOS_ENV = env("TAKOS_ENV", "development")  # development | production | test
DATA_DIR = Path(env("TAKOS_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    configured = env("SECRET_KEY") or env("DJANGO_SECRET_KEY")
    if configured:
        return configured
    # Embedded default: generate once and keep it with the data so sessions survive restarts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
TAKOS_PUBLIC_URL = env("TAKOS_PUBLIC_URL", "").rstrip("/")
TAKOS_REGISTRATION = env("TAKOS_REGISTRATION", "open").lower()  # open | closed
TAKOS_TENANT_DOMAIN = env("TAKOS_TENANT_DOMAIN", "apps.localhost")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "channels",
    "takos",
    "accounts",
    "auth_app",
    "billing",
    "repos",
    "agents",
    "services",
    "oauth",
    "platform_app",
    "workflows",
    "workers",
    "dispatch",
    "hosts",
]

MIDDLEWARE = [
    "takos.api.middleware.ApiBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "takos.urls"
ASGI_APPLICATION = "takos.asgi.application"
WSGI_APPLICATION = None
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "takos.context_processors.console",
                "oauth.external_login.context",
            ],
        },
    },
]

# --- Database: SQLite in DATA_DIR (WAL) or DATABASE_URL -------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    # Django's own psycopg pool: under ASGI every request runs on a new thread, so per-thread
    # persistent connections (CONN_MAX_AGE) never got reused; pooled ones are (the pool needs max age 0).
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 0, "max_size": env_int("TAKOS_DB_POOL_SIZE", 10), "timeout": 20}
else:
    DATABASES = {
        "default": {
            # Django's SQLite backend plus a pool of open connections (see takos/db/sqlite3/base.py).
            "ENGINE": "takos.db.sqlite3",
            "NAME": str(DATA_DIR / "takos.sqlite3"),
            "CONN_MAX_AGE": 0,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
            },
            # The test database is a WAL file too, not Django's default shared-cache memory
            # database: there a reader meeting another thread's write fails at once ("database
            # table is locked"; busy_timeout does not apply), which no production setup does.
            # One per test process, so suites run side by side never share (or delete) each other's.
            "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"takos-test-{os.getpid()}.sqlite3")},
        }
    }
# Separate test databases for concurrent suites on one PostgreSQL server.
if env("TAKOS_TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env("TAKOS_TEST_DB_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, locks, rate limits: local memory or Redis ----------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    # takos.cache: Django's Redis cache with one connection pool per process (see the module).
    CACHES = {"default": {"BACKEND": "takos.cache.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
else:
    CACHES = {"default": {"BACKEND": "takos.cache.LocMemCache", "LOCATION": "takos"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 7 * 24 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("TAKOS_SECURE_COOKIES", TAKOS_ENV == "production")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("TAKOS_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env_list("TAKOS_PASSWORD_HASHERS", "") or [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True


STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"

# --- Object storage: filesystem under DATA_DIR or S3 ----------------------------------
S3_BUCKET = env("TAKOS_S3_BUCKET")
if S3_BUCKET:
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": S3_BUCKET,
                "endpoint_url": env("TAKOS_S3_ENDPOINT_URL") or None,
                "region_name": env("TAKOS_S3_REGION") or None,
                "access_key": env("TAKOS_S3_ACCESS_KEY_ID") or None,
                "secret_key": env("TAKOS_S3_SECRET_ACCESS_KEY") or None,
                "default_acl": None,
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(DATA_DIR / "objects")},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

TAKOS_GIT_ROOT = Path(env("TAKOS_GIT_ROOT", str(DATA_DIR / "git"))).resolve()

# --- API --------------------------------------------------------------------------------
TAKOS_API_MAX_BODY = env_int("TAKOS_API_MAX_BODY", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = TAKOS_API_MAX_BODY
TAKOS_LOGIN_MAX_FAILURES = env_int("TAKOS_LOGIN_MAX_FAILURES", 5)
TAKOS_LOGIN_LOCKOUT_SECONDS = env_int("TAKOS_LOGIN_LOCKOUT_SECONDS", 15 * 60)
TAKOS_TOKEN_CACHE_SECONDS = env_int("TAKOS_TOKEN_CACHE_SECONDS", 60)
# With Redis: each process mirrors token generations, kept current by Redis (takos/redis_mirror.py).
TAKOS_TOKEN_MIRROR = env_bool("TAKOS_TOKEN_MIRROR", True)
# Long-lived request threads per web process (takos/asgi_handler.py); busy lanes fall back to a thread per request.
TAKOS_ASGI_LANES = env_int("TAKOS_ASGI_LANES", 8)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "auth_app.authentication.BearerTokenAuthentication",
        "auth_app.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "takos.api.permissions.TokenScope"],
    "DEFAULT_RENDERER_CLASSES": ["takos.api.renderers.FastJSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "takos.api.renderers.CachedContentNegotiation",
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "takos.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Takos API",
    "DESCRIPTION": "The Takos control-plane API: identity, spaces, repositories, agents, workflows, deployments.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery: filesystem broker in DATA_DIR or CELERY_BROKER_URL/REDIS_URL ---------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or REDIS_URL or "takosfs://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_URL = "takosfs://"  # same folders, atomic writes (takos/broker.py)
BROKER_DIR = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("takosfs://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # kombu otherwise writes its control exchange to ./control in the working directory.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The default 1 s poll made a task wait up to a second; 0.1 s keeps runs snappy.
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILE = str(DATA_DIR / "celerybeat-schedule")

# --- Containers -------------------------------------------------------------------------
TAKOS_CONTAINER_DRIVER = env("TAKOS_CONTAINER_DRIVER", "local")  # local | docker

# hosts: images, Docker options, proxy tokens, egress, sessions (see docs/hosts.md) ------
_RUNTIME_IMAGE = env("TAKOS_IMAGE_RUNTIME", "takos-runtime:latest")
TAKOS_CONTAINER_IMAGES = {
    "default": _RUNTIME_IMAGE,
    "ubuntu-latest": _RUNTIME_IMAGE,
    "runtime": _RUNTIME_IMAGE,
    "executor": env("TAKOS_IMAGE_EXECUTOR", "takos-executor:latest"),
    "browser": env("TAKOS_IMAGE_BROWSER", "takos-browser:latest"),
}
# "host" publishes nothing: containers listen on allocated 127.0.0.1 ports ($PORT).
# Any other value (bridge, a user network) publishes container ports on 127.0.0.1.
TAKOS_DOCKER_NETWORK = env("TAKOS_DOCKER_NETWORK", "host")
TAKOS_DOCKER_READ_ONLY = env_bool("TAKOS_DOCKER_READ_ONLY", True)
TAKOS_CONTAINER_NAMESPACE = env("TAKOS_CONTAINER_NAMESPACE", "")  # default: a hash of DATA_DIR
TAKOS_DOCKER_TIMEOUT = env_int("TAKOS_DOCKER_TIMEOUT", 60)  # seconds per engine API call
TAKOS_CONTAINER_START_TIMEOUT = env_int("TAKOS_CONTAINER_START_TIMEOUT", 60)
# How containers reach this control plane (host networking: loopback).
TAKOS_PROXY_URL = env("TAKOS_PROXY_URL", "") or f"http://127.0.0.1:{env('PORT', '8000')}"
TAKOS_PROXY_TOKEN_TTL = env_int("TAKOS_PROXY_TOKEN_TTL", 3600)
TAKOS_EGRESS_ALLOWED_HOSTS = env_list("TAKOS_EGRESS_ALLOWED_HOSTS", "")  # names or CIDRs exempt from the guard
TAKOS_EGRESS_ALLOWED_PORTS = [int(p) for p in env_list("TAKOS_EGRESS_ALLOWED_PORTS", "80,443")]
TAKOS_EGRESS_TIMEOUT = env_int("TAKOS_EGRESS_TIMEOUT", 300)
TAKOS_EGRESS_MAX_REQUEST = env_int("TAKOS_EGRESS_MAX_REQUEST", 10 * 1024 * 1024)
TAKOS_EGRESS_MAX_RESPONSE = env_int("TAKOS_EGRESS_MAX_RESPONSE", 25 * 1024 * 1024)
TAKOS_MCP_TIMEOUT = env_int("TAKOS_MCP_TIMEOUT", 30)  # oauth: per request to an external MCP server
# oauth: "Sign in with <name>" through an external OpenID provider (off while the issuer is empty)
TAKOS_OIDC_LOGIN_ISSUER = env("TAKOS_OIDC_LOGIN_ISSUER", "")  # e.g. https://accounts.google.com
TAKOS_OIDC_LOGIN_NAME = env("TAKOS_OIDC_LOGIN_NAME", "Google")
TAKOS_OIDC_LOGIN_CLIENT_ID = env("TAKOS_OIDC_LOGIN_CLIENT_ID", "")
TAKOS_OIDC_LOGIN_CLIENT_SECRET = env("TAKOS_OIDC_LOGIN_CLIENT_SECRET", "")
TAKOS_OIDC_LOGIN_CREATE_ACCOUNTS = env_bool("TAKOS_OIDC_LOGIN_CREATE_ACCOUNTS", True)
TAKOS_SESSION_HEARTBEAT_SECONDS = env_int("TAKOS_SESSION_HEARTBEAT_SECONDS", 30)
TAKOS_SESSION_DEAD_SECONDS = env_int("TAKOS_SESSION_DEAD_SECONDS", 120)  # no heartbeat at all -> dead
TAKOS_SESSION_IDLE_SECONDS = env_int("TAKOS_SESSION_IDLE_SECONDS", 600)  # no user activity -> stopped
TAKOS_SESSION_MEMORY_MB = env_int("TAKOS_SESSION_MEMORY_MB", 1024)
TAKOS_BROWSER_IDLE_SECONDS = env_int("TAKOS_BROWSER_IDLE_SECONDS", 900)
TAKOS_BROWSER_MEMORY_MB = env_int("TAKOS_BROWSER_MEMORY_MB", 1024)
TAKOS_RUNTIME_WARM_POOL = env_int("TAKOS_RUNTIME_WARM_POOL", 0)  # pre-started runtime containers

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}, "daphne": {"level": "WARNING"}},
}

# --- agents: model providers, run leases, streams ---------------------------------------
# offline (built-in, no network) | openai | anthropic | space (the space's /model provider when its key is set)
TAKOS_AGENT_PROVIDER = env("TAKOS_AGENT_PROVIDER", "offline").lower()
TAKOS_OPENAI_API_KEY = env("TAKOS_OPENAI_API_KEY") or env("OPENAI_API_KEY")
TAKOS_OPENAI_BASE_URL = env("TAKOS_OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
TAKOS_ANTHROPIC_API_KEY = env("TAKOS_ANTHROPIC_API_KEY") or env("ANTHROPIC_API_KEY")
TAKOS_ANTHROPIC_BASE_URL = env("TAKOS_ANTHROPIC_BASE_URL", "https://api.anthropic.com").rstrip("/")
TAKOS_AGENT_MAX_TURNS = env_int("TAKOS_AGENT_MAX_TURNS", 8)
TAKOS_OFFLINE_TOKEN_DELAY_MS = env_int("TAKOS_OFFLINE_TOKEN_DELAY_MS", 10)
TAKOS_RUN_LEASE_SECONDS = env_int("TAKOS_RUN_LEASE_SECONDS", 300)
TAKOS_RUN_HEARTBEAT_SECONDS = float(env("TAKOS_RUN_HEARTBEAT_SECONDS", "5"))
# How long a run's task waits for its run to become visible (the task leaves before the create commits).
TAKOS_RUN_VISIBLE_SECONDS = float(env("TAKOS_RUN_VISIBLE_SECONDS", "10"))
TAKOS_RUN_RECOVERY_INTERVAL = float(env("TAKOS_RUN_RECOVERY_INTERVAL", "60"))
TAKOS_RUN_MAX_RECOVERIES = env_int("TAKOS_RUN_MAX_RECOVERIES", 1)
# Streams are woken by the channel layer; the DB poll is the safety net (and the only path
# across processes on the embedded in-memory layer).
TAKOS_STREAM_POLL_SECONDS = float(env("TAKOS_STREAM_POLL_SECONDS", "2.0" if REDIS_URL else "0.1"))
TAKOS_SSE_HEARTBEAT_SECONDS = float(env("TAKOS_SSE_HEARTBEAT_SECONDS", "15"))

# --- oauth: OAuth 2.1 / OIDC provider on django-oauth-toolkit (see docs/oauth.md) -----------
from takos.api.scopes import SCOPES as _API_SCOPES  # noqa: E402  (plain dict, no Django imports)


def _oidc_rsa_private_key() -> str:
    """RS256 key for ID tokens: env OIDC_RSA_PRIVATE_KEY(_FILE), else generated once into DATA_DIR."""
    configured = env("OIDC_RSA_PRIVATE_KEY")
    if configured:
        return configured.replace("\\n", "\n")
    key_file = DATA_DIR / "oidc_rsa_private_key.pem"
    if not key_file.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Written with 0600 from the start so the key is never world-readable, even briefly.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    return key_file.read_text()


OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.OAuthClient"
# Extra RFC 8707 resources (besides `<public url>/api`) this server issues tokens for.
TAKOS_OAUTH_EXTRA_RESOURCES = env_list("TAKOS_OAUTH_EXTRA_RESOURCES", "")
# Plain-http redirect URIs for non-loopback hosts: off except in development setups.
TAKOS_OAUTH_ALLOW_HTTP_REDIRECTS = env_bool("TAKOS_OAUTH_ALLOW_HTTP_REDIRECTS", False)
# Anyone may register a client (RFC 7591, as MCP clients do); rate-limited per IP.
TAKOS_OAUTH_OPEN_REGISTRATION = env_bool("TAKOS_OAUTH_OPEN_REGISTRATION", True)
TAKOS_OAUTH_REGISTER_PER_MINUTE = env_int("TAKOS_OAUTH_REGISTER_PER_MINUTE", 10)
TAKOS_OAUTH_DEVICE_CODE_PER_MINUTE = env_int("TAKOS_OAUTH_DEVICE_CODE_PER_MINUTE", 10)
OAUTH2_PROVIDER = {
    "SCOPES": dict(_API_SCOPES),
    "SCOPES_BACKEND_CLASS": "oauth.scopes.TakosScopes",
    "OAUTH2_VALIDATOR_CLASS": "oauth.validators.TakosOAuth2Validator",
    "ACCESS_TOKEN_GENERATOR": "oauth.tokens.access_token_generator",
    "REFRESH_TOKEN_GENERATOR": "oauth.tokens.refresh_token_generator",
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 600,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("TAKOS_OAUTH_ACCESS_TOKEN_SECONDS", 3600),
    "ID_TOKEN_EXPIRE_SECONDS": 3600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int("TAKOS_OAUTH_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http", *env_list("TAKOS_OAUTH_EXTRA_REDIRECT_SCHEMES", "")],
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _oidc_rsa_private_key(),
    "OIDC_ISS_ENDPOINT": TAKOS_PUBLIC_URL,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": [
        "authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code",
    ],
    "OAUTH2_PROTECTED_RESOURCE_IDENTIFIER": f"{TAKOS_PUBLIC_URL}/api" if TAKOS_PUBLIC_URL else "",
    "OAUTH2_PROTECTED_RESOURCE_NAME": "Takos API",
    "OAUTH2_PROTECTED_RESOURCE_BEARER_METHODS_SUPPORTED": ["header"],
    "DEVICE_FLOW_INTERVAL": 5,
    # The device grant's user is set when the token is validated (oauth.validators), not by DOT's hook.
    "OAUTH_PRE_TOKEN_VALIDATION": [],
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": (
        ("oauth2_provider.dcr.AllowAllDCRPermission",) if TAKOS_OAUTH_OPEN_REGISTRATION
        else ("oauth2_provider.dcr.IsAuthenticatedDCRPermission",)
    ),
    # RFC 9700 gates: all on (no implicit/password grant, S256 only, `iss` in responses,
    # tokens hashed at rest, no access tokens in query strings).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": False,  # loopback http is checked in oauth.models
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# --- repos (git hosting) ----------------------------------------------------------------
# Largest pack a single `git push` may send (spec: 90 MB); the /api body limit does not apply to /git.
TAKOS_GIT_MAX_PACK_BYTES = env_int("TAKOS_GIT_MAX_PACK_BYTES", 90 * 1024 * 1024)
# Blob API: JSON content up to this size; raw downloads up to the second.
TAKOS_REPO_BLOB_MAX_BYTES = env_int("TAKOS_REPO_BLOB_MAX_BYTES", 1024 * 1024)
TAKOS_REPO_RAW_MAX_BYTES = env_int("TAKOS_REPO_RAW_MAX_BYTES", 50 * 1024 * 1024)
TAKOS_RELEASE_ASSET_MAX_BYTES = env_int("TAKOS_RELEASE_ASSET_MAX_BYTES", 100 * 1024 * 1024)

# --- workers / services / dispatch: deployments, rollout, tenant dispatch (see docs/deployments.md) ---
TAKOS_DEPLOY_MEMORY_MB = env_int("TAKOS_DEPLOY_MEMORY_MB", 512)
TAKOS_DEPLOY_START_TIMEOUT = env_int("TAKOS_DEPLOY_START_TIMEOUT", 60)  # seconds until healthy
TAKOS_DEPLOY_LEASE_SECONDS = env_int("TAKOS_DEPLOY_LEASE_SECONDS", 600)
TAKOS_DEPLOY_ARTIFACT_WAIT = env_int("TAKOS_DEPLOY_ARTIFACT_WAIT", 600)  # seconds for build.fromWorkflow's run
TAKOS_DEPLOY_KEEP_WARM = env_int("TAKOS_DEPLOY_KEEP_WARM", 1)  # previous versions kept running for rollback
TAKOS_ROLLOUT_TICK_SECONDS = float(env("TAKOS_ROLLOUT_TICK_SECONDS", "5"))  # beat: advance canary steps
TAKOS_RUNTIME_IDLE_SECONDS = env_int("TAKOS_RUNTIME_IDLE_SECONDS", 1800)  # scale to zero after idle; 0 = never
TAKOS_DISPATCH_MAX_BODY = env_int("TAKOS_DISPATCH_MAX_BODY", 10 * 1024 * 1024)
TAKOS_DISPATCH_TIMEOUT = float(env("TAKOS_DISPATCH_TIMEOUT", "60"))  # seconds for the runtime to answer
TAKOS_DISPATCH_CONNECT_TIMEOUT = float(env("TAKOS_DISPATCH_CONNECT_TIMEOUT", "5"))
TAKOS_DISPATCH_SPACE_CONCURRENCY = env_int("TAKOS_DISPATCH_SPACE_CONCURRENCY", 200)  # in-flight per tenant
TAKOS_DISPATCH_CACHE_SECONDS = float(env("TAKOS_DISPATCH_CACHE_SECONDS", "5"))
# Custom domains: DNS answers come from this resolver ("system", or "host:port" of a nameserver);
# the HTTP check connects to the domain's address on this port.
TAKOS_DNS_RESOLVER = env("TAKOS_DNS_RESOLVER", "system")
# "self" = the port this server listens on ($PORT), when nothing fronts it on :80.
TAKOS_DOMAIN_HTTP_PORT = int(env("PORT", "8000")) if env("TAKOS_DOMAIN_HTTP_PORT") == "self" \
    else env_int("TAKOS_DOMAIN_HTTP_PORT", 80)

# --- workflows: CI runs, secrets, logs, artifacts (see docs/workflows.md) ----------------
# Secrets at rest are encrypted with a key derived from this (falls back to SECRET_KEY).
TAKOS_ENCRYPTION_KEY = env("TAKOS_ENCRYPTION_KEY")
# runs-on label -> container image label (hosts resolves image labels to images).
TAKOS_WORKFLOW_RUNNERS = dict(
    item.split("=", 1) for item in env_list("TAKOS_WORKFLOW_RUNNERS", "default=default,ubuntu-latest=default")
)
TAKOS_WORKFLOW_LEASE_SECONDS = env_int("TAKOS_WORKFLOW_LEASE_SECONDS", 120)
TAKOS_WORKFLOW_HEARTBEAT_SECONDS = float(env("TAKOS_WORKFLOW_HEARTBEAT_SECONDS", "5"))
TAKOS_WORKFLOW_MAX_ATTEMPTS = env_int("TAKOS_WORKFLOW_MAX_ATTEMPTS", 2)  # per job, counting recoveries
TAKOS_WORKFLOW_DEFAULT_TIMEOUT_MINUTES = env_int("TAKOS_WORKFLOW_DEFAULT_TIMEOUT_MINUTES", 360)
TAKOS_WORKFLOW_ARTIFACT_RETENTION_DAYS = env_int("TAKOS_WORKFLOW_ARTIFACT_RETENTION_DAYS", 90)
TAKOS_WORKFLOW_MAX_LOG_BYTES = env_int("TAKOS_WORKFLOW_MAX_LOG_BYTES", 256 * 1024 * 1024)
TAKOS_WORKFLOW_MAX_ARTIFACT_BYTES = env_int("TAKOS_WORKFLOW_MAX_ARTIFACT_BYTES", 500 * 1024 * 1024)
TAKOS_WORKFLOW_CONTAINER_MEMORY_MB = env_int("TAKOS_WORKFLOW_CONTAINER_MEMORY_MB", 2048)
# Keep the client's X-Forwarded-For chain (only behind a proxy you trust).
TAKOS_DISPATCH_TRUST_FORWARDED = env_bool("TAKOS_DISPATCH_TRUST_FORWARDED", False)
