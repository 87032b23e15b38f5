from django.contrib import admin

from services.models import CommonEnvLink, CommonEnvVar, Service, ServiceBinding, ServiceEnvVar


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("slug", "hostname", "space", "service_type", "status", "active_deployment", "canary_deployment",
                    "canary_weight", "current_version", "created_at")
    list_filter = ("service_type", "status")
    search_fields = ("slug", "hostname", "space__slug", "id")
    raw_id_fields = ("space", "repo", "active_deployment", "canary_deployment", "fallback_deployment", "created_by")


@admin.register(ServiceEnvVar)
class ServiceEnvVarAdmin(admin.ModelAdmin):
    list_display = ("service", "name", "is_secret", "updated_at")
    list_filter = ("is_secret",)
    search_fields = ("service__slug", "name")
    raw_id_fields = ("service",)
    exclude = ("value_encrypted",)


@admin.register(CommonEnvVar)
class CommonEnvVarAdmin(admin.ModelAdmin):
    list_display = ("space", "name", "is_secret", "updated_at")
    list_filter = ("is_secret",)
    search_fields = ("space__slug", "name")
    raw_id_fields = ("space",)
    exclude = ("value_encrypted",)


@admin.register(CommonEnvLink)
class CommonEnvLinkAdmin(admin.ModelAdmin):
    list_display = ("service", "env_name", "source", "sync_state", "last_reconciled_at")
    list_filter = ("source", "sync_state")
    search_fields = ("service__slug", "env_name")
    raw_id_fields = ("service",)


@admin.register(ServiceBinding)
class ServiceBindingAdmin(admin.ModelAdmin):
    list_display = ("service", "binding_name", "binding_type", "resource_id", "resource_name")
    list_filter = ("binding_type",)
    search_fields = ("service__slug", "binding_name", "resource_name")
    raw_id_fields = ("service",)
