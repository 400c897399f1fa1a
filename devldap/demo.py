"""The demo's company directory (``KENNEL_LDAP_DEMO=1 make run``): a few people and groups that map
onto the demo teams. Directory user names start with ``ldap-`` so they never meet a local demo account."""

from __future__ import annotations

from devldap import Group, Person

DEMO_PORT = 16389
DEMO_PEOPLE = (
    Person("ldap-ada", "ada-directory", "Ada", "Directory-Admin", "ada@kennel.invalid"),
    Person("ldap-mo", "mo-directory", "Mo", "Directory-Manager", "mo@kennel.invalid"),
    Person("ldap-lee", "lee-directory", "Lee", "Directory-Lead", "lee@kennel.invalid"),
    Person("ldap-sam", "sam-directory", "Sam", "Directory-Dev", "sam@kennel.invalid"),
    Person("ldap-nol", "nol-directory", "Nol", "No-Group", "nol@kennel.invalid"),
)
DEMO_GROUPS = (
    Group("kennel-admins", ("ldap-ada",)),
    Group("kennel-managers", ("ldap-mo",)),
    Group("alpha-devs", ("ldap-lee", "ldap-sam")),
    Group("alpha-leads", ("ldap-lee",)),
    Group("beta-devs", ("ldap-sam",)),
    Group("canteen", ("ldap-nol",)),  # mapped to nothing: ldap-nol cannot sign in
)
DEMO_SETTINGS = {
    "KENNEL_LDAP_ADMIN_GROUPS": "kennel-admins",
    "KENNEL_LDAP_MANAGER_GROUPS": "kennel-managers",
    "KENNEL_LDAP_TEAM_GROUPS": "alpha-devs=alpha:member,alpha-leads=alpha:lead,beta-devs=beta:member",
    "KENNEL_LDAP_STARTTLS": "1",
    "KENNEL_LDAP_SYNC_SECONDS": "60",
}
