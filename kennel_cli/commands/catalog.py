"""What can be requested: ``kennel arch|image|flavor|profile ...``."""

from __future__ import annotations

import urllib.parse

from kennel_cli.commands import command, noun
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import print_fields, print_json, print_table


def register(commands) -> None:
    arch = noun(commands, "arch", "CPU architectures the cloud can run now")
    command(arch, "list", cmd_arch_list, "architectures with an active image and a compute host")

    image = noun(commands, "image", "images you can request")
    listing = command(image, "list", cmd_image_list, "active images, by architecture")
    listing.add_argument("--arch", help="only this architecture (see kennel arch list)")
    listing.add_argument("--team", help="only the images this team may request from (its own snapshots too)")

    flavor = noun(commands, "flavor", "flavors (sizes) you can request")
    listing = command(
        flavor,
        "list",
        cmd_flavor_list,
        "flavors; with --arch or --image, how many more of each fit right now",
    )
    listing.add_argument("--arch", help="count how many fit on this architecture's hosts")
    listing.add_argument("--image", help="only flavors big enough for this image (name or id)")

    profile = noun(commands, "profile", "cloud-init profiles offered with a VM")
    command(profile, "list", cmd_profile_list, "the offered profiles")
    show = command(profile, "show", cmd_profile_show, "a profile's parts and the user-data it makes")
    show.add_argument("name", metavar="PROFILE", help="its name (or id)")
    show.add_argument("--arch", help="only the user-data for this architecture")


def cmd_arch_list(ctx: Context) -> int:
    rows = ctx.client.get("catalog/architectures/")
    if ctx.json:
        print_json(rows)
    else:
        print_table(
            rows,
            [
                ("ARCH", lambda r: r["architecture"]),
                ("IMAGES", lambda r: r["image_count"]),
                ("HOSTS", lambda r: r["host_count"]),
            ],
            empty="No architecture is available: the cloud has no active image with a compute host.",
        )
    return Exit.OK


def cmd_image_list(ctx: Context) -> int:
    rows = ctx.client.get("catalog/images/", architecture=ctx.args.arch, team=ctx.args.team)
    if ctx.json:
        print_json(rows)
    else:
        print_table(
            rows,
            [
                ("NAME", lambda r: r["name"]),
                ("ARCH", lambda r: r["architecture"]),
                ("TEAM", lambda r: r.get("team") or ""),
                ("OS", lambda r: " ".join(filter(None, [r["os_distro"], r["os_version"]]))),
                ("MIN DISK GB", lambda r: r["min_disk_gb"]),
                ("MIN RAM MB", lambda r: r["min_ram_mb"]),
                ("ID", lambda r: r["id"]),
            ],
            empty=f"No active image{' for ' + ctx.args.arch if ctx.args.arch else ''}. See kennel arch list.",
        )
    return Exit.OK


def cmd_flavor_list(ctx: Context) -> int:
    rows = ctx.client.get("catalog/flavors/", architecture=ctx.args.arch, image=ctx.args.image)
    if ctx.json:
        print_json(rows)
        return Exit.OK
    columns = [
        ("NAME", lambda r: r["name"]),
        ("VCPUS", lambda r: r["vcpus"]),
        ("RAM MB", lambda r: r["ram_mb"]),
        ("DISK GB", lambda r: r["disk_gb"]),
    ]
    if ctx.args.arch or ctx.args.image:
        columns.append(("FIT NOW", lambda r: r["fits"]))
    print_table(rows, columns, empty="No flavor fits.")
    return Exit.OK


def cmd_profile_list(ctx: Context) -> int:
    rows = ctx.client.get("catalog/profiles/")
    if ctx.json:
        print_json(rows)
    else:
        print_table(
            rows,
            [("NAME", lambda r: r["name"]), ("DESCRIPTION", lambda r: r["description"])],
            empty="No profile is offered; VMs get only your keys and packages.",
        )
    return Exit.OK


def cmd_profile_show(ctx: Context) -> int:
    profile = ctx.client.get(f"catalog/profiles/{urllib.parse.quote(ctx.args.name, safe='')}/")
    user_data = profile["user_data"]
    if ctx.args.arch:
        if ctx.args.arch not in user_data:
            known = ", ".join(user_data) or "none"
            raise CliError(f"No {ctx.args.arch} hosts or images now (available: {known}).", Exit.NOT_FOUND)
        user_data = {ctx.args.arch: user_data[ctx.args.arch]}
    if ctx.json:
        print_json({**profile, "user_data": user_data})
        return Exit.OK
    print_fields(
        [("name", profile["name"]), ("description", profile["description"]), ("parts", profile["parts"])]
    )
    for arch, text in user_data.items():
        print(f"\n# user-data on {arch} (for a VM named vm-name, without your SSH keys)")
        print(text.rstrip())
    return Exit.OK
