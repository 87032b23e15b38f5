from django.urls import path

from oauth.api import mcp_views, views

oauth_api_urlpatterns = [
    path("oauth/authorize/context", views.AuthorizeContextView.as_view(), name="api-oauth-authorize-context"),
    path("oauth/authorize/decision", views.AuthorizeDecisionView.as_view(), name="api-oauth-authorize-decision"),
    path("oauth/device/context", views.DeviceContextView.as_view(), name="api-oauth-device-context"),
    path("oauth/device/decision", views.DeviceDecisionView.as_view(), name="api-oauth-device-decision"),
    path("me/oauth/consents", views.ConsentsView.as_view(), name="api-oauth-consents"),
    path("me/oauth/consents/<str:client_id>", views.ConsentDetailView.as_view(), name="api-oauth-consent"),
    path("me/oauth/audit-logs", views.AuditLogsView.as_view(), name="api-oauth-audit-logs"),
    path("me/oauth/clients", views.ClientsView.as_view(), name="api-oauth-clients"),
    path("me/oauth/clients/<str:client_id>", views.ClientDetailView.as_view(), name="api-oauth-client"),
    path("me/oauth/clients/<str:client_id>/secret", views.ClientSecretView.as_view(), name="api-oauth-client-secret"),
    path("mcp/servers", mcp_views.ServersView.as_view(), name="api-mcp-servers"),
    path("mcp/servers/<str:server_id>", mcp_views.ServerDetailView.as_view(), name="api-mcp-server"),
    path("mcp/servers/<str:server_id>/connect", mcp_views.ServerConnectView.as_view(), name="api-mcp-server-connect"),
    path("mcp/servers/<str:server_id>/tools", mcp_views.ServerToolsView.as_view(), name="api-mcp-server-tools"),
    path("mcp/oauth/callback", mcp_views.OAuthCallbackView.as_view(), name="api-mcp-oauth-callback"),
]
