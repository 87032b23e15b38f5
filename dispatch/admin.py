from django.contrib import admin

from dispatch.models import DeploymentMetric, Route


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ("hostname", "service", "kind", "updated_at")
    list_filter = ("kind",)
    search_fields = ("hostname", "service__slug")
    raw_id_fields = ("service",)


@admin.register(DeploymentMetric)
class DeploymentMetricAdmin(admin.ModelAdmin):
    list_display = ("deployment", "bucket", "requests", "errors", "latency_ms_sum", "latency_ms_max")
    search_fields = ("deployment__id", "deployment__service__slug")
    date_hierarchy = "bucket"
    raw_id_fields = ("deployment",)
