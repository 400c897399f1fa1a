"""factory_boy factories for the portal's models."""

from __future__ import annotations

import factory

from inventory.models import DataCenter, Server, ServerRole
from portal.architectures import Architecture
from portal.models import Membership, Role, Team, User

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    role = Role.DEVELOPER
    password = factory.django.Password(PASSWORD)


class TeamFactory(factory.django.DjangoModelFactory[Team]):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    level = Membership.Level.MEMBER


class DataCenterFactory(factory.django.DjangoModelFactory[DataCenter]):
    class Meta:
        model = DataCenter
        django_get_or_create = ("code",)

    code = "dc1"
    name = "Data center 1"


class ServerFactory(factory.django.DjangoModelFactory[Server]):
    class Meta:
        model = Server

    name = factory.Sequence(lambda n: f"S{n}")
    architecture = Architecture.X86_64
    datacenter = factory.SubFactory(DataCenterFactory)
    roles = factory.LazyFunction(lambda: [ServerRole.OUTSIDE.value])
