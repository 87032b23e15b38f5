"""Everything the oauth app serves; mounted with one include in takos/urls.py (before the /api catch-all).

Protocol routes keep DOT's URL names in the `oauth2_provider` namespace, which DOT's metadata
views reverse to build endpoint URLs.
"""

from django.urls import include, path

from oauth import endpoints, external_login
from oauth.api.urls import oauth_api_urlpatterns
from oauth.console import mcp_views as mcp_console
from oauth.console import views as console

protocol_urlpatterns = [
    path("oauth/authorize", endpoints.AuthorizeView.as_view(), name="authorize"),
    path("oauth/token", endpoints.TokenView.as_view(), name="token"),
    path("oauth/revoke", endpoints.RevokeView.as_view(), name="revoke-token"),
    path("oauth/introspect", endpoints.IntrospectView.as_view(), name="introspect"),
    path("oauth/userinfo", endpoints.UserInfoView.as_view(), name="user-info"),
    path("oauth/device/code", endpoints.DeviceCodeView.as_view(), name="device-authorization"),
    path("oauth/device", endpoints.DeviceVerifyView.as_view(), name="device"),
    path("oauth/register", endpoints.RegisterView.as_view(), name="dcr-register"),
    path("oauth/register/<str:client_id>", endpoints.RegisterManageView.as_view(), name="dcr-register-management"),
    path(".well-known/oauth-authorization-server", endpoints.ServerMetadataView.as_view(),
         name="oauth-server-metadata"),
    path(".well-known/openid-configuration", endpoints.OpenIDConfigurationView.as_view(),
         name="oidc-connect-discovery-info"),
    path(".well-known/jwks.json", endpoints.JwksView.as_view(), name="jwks-info"),
    path(".well-known/oauth-protected-resource", endpoints.ProtectedResourceMetadataView.as_view(),
         name="oauth-resource-metadata"),
    path(".well-known/oauth-protected-resource/api", endpoints.ProtectedResourceMetadataView.as_view(),
         name="oauth-resource-metadata-api"),
]

urlpatterns = [
    path("", include((protocol_urlpatterns, "oauth2_provider"))),
    path("api/", include(oauth_api_urlpatterns)),
    path("settings/oauth/apps", console.apps_page, name="console-oauth-apps"),
    path("settings/oauth/apps/<str:client_id>/revoke", console.app_revoke, name="console-oauth-app-revoke"),
    path("settings/oauth/clients", console.clients_page, name="console-oauth-clients"),
    path("settings/oauth/clients/<str:client_id>/delete", console.client_delete, name="console-oauth-client-delete"),
    path("settings/mcp", mcp_console.mcp_page, name="console-mcp"),
    path("settings/mcp/<str:server_id>/<str:action>", mcp_console.mcp_action, name="console-mcp-action"),
    path("login/oidc", external_login.start, name="console-oidc-login"),
    path("login/oidc/callback", external_login.callback, name="console-oidc-callback"),
]
