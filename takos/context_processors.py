from django.http import HttpRequest

# Other apps append {"key", "label", "url"} entries in their AppConfig.ready().
NAV_EXTRA: list[dict[str, str]] = []


def console(request: HttpRequest) -> dict:
    return {"console_nav_extra": NAV_EXTRA}
