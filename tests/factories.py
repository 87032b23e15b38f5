"""factory_boy factories shared by every app's tests."""

from __future__ import annotations

import factory

from accounts.models import User
from accounts.services import space_create, user_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = "correct horse battery"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Go through the service so the personal space exists, as for a real sign-up.
        return user_create(username=kwargs["username"], email=kwargs["email"], password=kwargs["password"],
                           display_name=kwargs.get("display_name", ""))


def make_team_space(owner: User, name: str = "Team", **members: str):  # type: ignore[no-untyped-def]
    """A team space owned by `owner`; `members` maps usernames to roles."""
    from accounts.models import Membership

    space = space_create(owner=owner, name=name)
    for username, role in members.items():
        Membership.objects.create(space=space, user=User.objects.get(username=username), role=role)
    return space
