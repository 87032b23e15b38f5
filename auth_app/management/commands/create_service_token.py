from django.core.management.base import BaseCommand, CommandParser

from auth_app.services import service_token_create


class Command(BaseCommand):
    help = "Create a service token for an internal caller and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("service_name")
        parser.add_argument("--scopes", default="*", help="space-separated scopes, or * (default)")

    def handle(self, *args, service_name: str, scopes: str, **options) -> None:  # type: ignore[no-untyped-def]
        issued = service_token_create(service_name=service_name, scopes=scopes)
        self.stdout.write(issued.token)
