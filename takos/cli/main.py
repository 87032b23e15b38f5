"""`takos`: the command line. It talks only to the Takos API (see `takos --help`)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable

from takos.cli import commands as commands_pkg
from takos.cli.client import ApiClient, CliError
from takos.cli.config import Config, config_path
from takos.cli.output import emit

Handler = Callable[[argparse.Namespace, ApiClient], int | None]


def _login(args: argparse.Namespace, api: ApiClient) -> int:
    from takos.cli.login import browser_login

    config = api.config
    if args.url:
        config.url = args.url.rstrip("/")
    if args.device:
        from takos.cli.commands.auth_device import _login_device

        return _login_device(args, api)
    token = args.token
    if token == "-":
        token = sys.stdin.readline().strip()
    if not token:
        token = browser_login(config.url, open_browser=not args.no_browser,
                              announce=lambda m: print(m, file=sys.stderr))
    me = ApiClient(Config(url=config.url, token=token)).get("/api/me")
    config.token, config.username = token, me["username"]
    path = config.save()
    emit({"username": me["username"], "url": config.url, "config": str(path)}, args.json,
         message=f"Signed in to {config.url} as {me['username']} (saved in {path})")
    return 0


def _logout(args: argparse.Namespace, api: ApiClient) -> int:
    config = api.config
    config.token = config.username = None
    config.save()
    emit({"success": True}, args.json, message="Signed out (the token stays valid until revoked).")
    return 0


def _whoami(args: argparse.Namespace, api: ApiClient) -> int:
    me = api.get("/api/me")
    emit(me, args.json, message=f"{me['username']} <{me['email']}> on {api.config.url}")
    return 0


def _spaces_list(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get("/api/spaces", limit=args.limit, offset=args.offset)
    emit(data, args.json, rows=data["spaces"], columns=["id", "slug", "name", "kind", "member_role"])
    return 0


def _spaces_create(args: argparse.Namespace, api: ApiClient) -> int:
    body = {"name": args.name, "description": args.description or ""}
    if args.slug:
        body["id"] = args.slug
    data = api.post("/api/spaces", body)
    space = data["space"]
    emit(data, args.json, message=f"Created space {space['slug']} ({space['id']})")
    return 0


def _tokens_list(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get("/api/me/personal-access-tokens", limit=args.limit)
    emit(data, args.json, rows=data["tokens"],
         columns=["id", "name", "token_prefix", "scopes", "expires_at", "last_used_at"])
    return 0


def _tokens_create(args: argparse.Namespace, api: ApiClient) -> int:
    body: dict = {"name": args.name, "scopes": args.scopes.split() if args.scopes != "*" else "*"}
    if args.expires_at:
        body["expiresAt"] = args.expires_at
    data = api.post("/api/me/personal-access-tokens", body)
    emit(data, args.json, message=f"{data['token']}\n(shown once: store it now)")
    return 0


def _tokens_revoke(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.delete(f"/api/me/personal-access-tokens/{args.id}")
    emit(data, args.json, message=f"Revoked {args.id}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS so `takos --json spaces list` and `takos spaces list --json` both work.
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    common.add_argument("--url", default=argparse.SUPPRESS, help="Takos server URL (default: config or TAKOS_URL)")

    parser = argparse.ArgumentParser(prog="takos", description="The Takos command line.", parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("login", parents=[common], help="sign in (browser, or --token)")
    p.add_argument("--token", help="use this personal access token ('-' reads stdin)")
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    p.add_argument("--device", action="store_true", help="sign in with the OAuth device flow (enter a code)")
    p.set_defaults(handler=_login)
    sub.add_parser("logout", parents=[common], help="forget the saved token").set_defaults(handler=_logout)
    sub.add_parser("whoami", parents=[common], help="show the signed-in user").set_defaults(handler=_whoami)

    spaces = sub.add_parser("spaces", parents=[common], help="spaces").add_subparsers(dest="sub", required=True)
    p = spaces.add_parser("list", parents=[common])
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(handler=_spaces_list)
    p = spaces.add_parser("create", parents=[common])
    p.add_argument("name")
    p.add_argument("--slug")
    p.add_argument("--description")
    p.set_defaults(handler=_spaces_create)

    tokens = sub.add_parser("tokens", parents=[common], help="personal access tokens").add_subparsers(
        dest="sub", required=True)
    p = tokens.add_parser("list", parents=[common])
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(handler=_tokens_list)
    p = tokens.add_parser("create", parents=[common])
    p.add_argument("name")
    p.add_argument("--scopes", default="*", help="space-separated scopes, or * (default)")
    p.add_argument("--expires-at", help="ISO-8601 time")
    p.set_defaults(handler=_tokens_create)
    p = tokens.add_parser("revoke", parents=[common])
    p.add_argument("id")
    p.set_defaults(handler=_tokens_revoke)

    # Other apps add commands as takos/cli/commands/<name>.py with register(subparsers, common).
    for module_info in pkgutil.iter_modules(commands_pkg.__path__):
        module = importlib.import_module(f"takos.cli.commands.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            try:
                register(sub, common)
            except TypeError:
                register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.json = getattr(args, "json", False)
    args.url = getattr(args, "url", None)
    config = Config.load()
    if getattr(args, "url", None):
        config.url = args.url.rstrip("/")
    api = ApiClient(config)
    try:
        return int(args.handler(args, api) or 0)
    except CliError as exc:
        if getattr(args, "json", False):
            import json

            print(json.dumps({"error": {"code": exc.code or "ERROR", "message": str(exc)}}), file=sys.stderr)
        else:
            print(f"takos: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


__all__ = ["config_path", "main"]

if __name__ == "__main__":
    sys.exit(main())
