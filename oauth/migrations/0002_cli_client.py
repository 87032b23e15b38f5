"""The first-party public client the `takos` CLI signs in with (device flow)."""

from django.db import migrations

CLI_CLIENT_ID = "takos-cli"


def create_cli_client(apps, schema_editor):
    OAuthClient = apps.get_model("oauth", "OAuthClient")
    OAuthClient.objects.get_or_create(
        client_id=CLI_CLIENT_ID,
        defaults={
            "name": "takos CLI",
            "description": "The takos command line (takos login --device).",
            "client_type": "public",
            "authorization_grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            "redirect_uris": "",
            "client_secret": "",
            "hash_client_secret": False,
            "algorithm": "RS256",
            "registration_source": "manual",
            "status": "active",
        },
    )


def remove_cli_client(apps, schema_editor):
    apps.get_model("oauth", "OAuthClient").objects.filter(client_id=CLI_CLIENT_ID).delete()


class Migration(migrations.Migration):
    dependencies = [("oauth", "0001_initial")]
    operations = [migrations.RunPython(create_cli_client, remove_cli_client)]
