from rest_framework import serializers


class SignupIn(serializers.Serializer):
    username = serializers.CharField(max_length=39)
    email = serializers.EmailField()
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class LoginIn(serializers.Serializer):
    login = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class UsernameIn(serializers.Serializer):
    username = serializers.CharField(max_length=64)


class TokenCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.JSONField(required=False)
    expiresAt = serializers.DateTimeField(required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


def token_out(record) -> dict:
    return {
        "id": record.id,
        "name": record.name,
        "token_prefix": record.token_prefix,
        "scopes": record.scope_value,
        "expires_at": record.expires_at.isoformat() if record.expires_at else None,
        "last_used_at": record.last_used_at.isoformat() if record.last_used_at else None,
        "created_at": record.created_at.isoformat(),
    }
