from django.apps import AppConfig


class OauthConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "oauth"
    label = "oauth"
    verbose_name = "OAuth provider"

    def ready(self) -> None:
        from oauth2_provider.signals import app_authorized

        from auth_app.authentication import TOKEN_RESOLVERS
        from oauth.authentication import resolve_oauth_token
        from oauth.tokens import ACCESS_PREFIX
        from takos.context_processors import NAV_EXTRA

        TOKEN_RESOLVERS[ACCESS_PREFIX] = resolve_oauth_token
        if not any(item.get("key") == "oauth" for item in NAV_EXTRA):
            NAV_EXTRA.append({"key": "oauth", "label": "Apps", "url": "/settings/oauth/apps"})
        if not any(item.get("key") == "mcp" for item in NAV_EXTRA):
            NAV_EXTRA.append({"key": "mcp", "label": "MCP", "url": "/settings/mcp"})
        app_authorized.connect(_token_issued, dispatch_uid="oauth-audit-token-issued")


def _token_issued(sender, request, token, **kwargs) -> None:  # type: ignore[no-untyped-def]
    from oauth.services import audit_request

    audit_request(request, "token.issued", user=token.user, client_id=token.application.client_id if token.application else "",
                  grant_type=request.POST.get("grant_type", ""), scope=token.scope)
