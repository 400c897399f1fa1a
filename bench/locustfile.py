"""Locust: people using Kennel at the same time (run by ``bench/load.py``; see its docstring).

The mix, by weight of simulated users:

- developers (7): browse the VM list and its pages, open VMs, follow them through the API as the
  request page does, request a VM of their own, poll it until it runs, reboot it, and delete it;
- managers (2): the dashboard, utilization and its history, the quota overview, the physical servers;
- admins (1): the quota requests, approving what is pending (the team lead among the developers asks
  for more floating IPs now and then, so there is something to approve).

Every simulated person signs in through the login form once and keeps the session. The people and
their password come from ``bench/_kennel_setup.py`` (``BENCH_PASSWORD`` in the environment).
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import time

from locust import HttpUser, between, task

PASSWORD = os.environ.get("BENCH_PASSWORD", "")
DEVELOPERS = int(os.environ.get("BENCH_DEVELOPERS", "20"))
_numbers = itertools.count()


class Person(HttpUser):
    abstract = True
    wait_time = between(1, 4)
    username = ""

    def on_start(self) -> None:
        form = self.client.get("/login/", name="/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        self.client.post(
            "/login/",
            data={
                "csrfmiddlewaretoken": token.group(1) if token else "",
                "username": self.username,
                "password": PASSWORD,
            },
            headers={"Referer": self.host + "/login/"},
            name="/login/ (sign in)",
        )

    def api(self, method: str, path: str, name: str, **kwargs):
        """An API call on the session: Django's CSRF check wants the token from its cookie."""
        headers = {"X-CSRFToken": self.client.cookies.get("csrftoken", ""), "Referer": self.host + "/"}
        return self.client.request(method, path, name=name, headers=headers, **kwargs)


class Developer(Person):
    weight = 7

    def on_start(self) -> None:
        number = next(_numbers)
        self.username = f"bench-dev-{number % DEVELOPERS:02d}"
        self.lead = number % DEVELOPERS == 0
        self.mine: int | None = None  # the VM this person requested and has not deleted yet
        self.made = 0
        self.tag = f"{int(time.time()) % 1_000_000}-{number:03d}"  # VM names unique across runs
        super().on_start()
        count = self.client.get("/api/v1/vms/", name="/api/v1/vms/").json().get("count", 0)
        self.pages = max(1, math.ceil(count / 25))  # the VM list page's pages (the API's hold 50)
        page = random.randint(1, max(1, math.ceil(count / 50)))
        listed = self.client.get(f"/api/v1/vms/?page={page}", name="/api/v1/vms/?page=N").json()
        self.vm_ids = [vm["id"] for vm in listed.get("results", [])] or [None]

    @task(6)
    def vm_list(self) -> None:
        self.client.get("/vms/", name="/vms/")

    @task(2)
    def vm_list_page(self) -> None:
        self.client.get(f"/vms/?page={random.randint(1, self.pages)}", name="/vms/?page=N")

    @task(3)
    def vm_detail(self) -> None:
        vm = random.choice(self.vm_ids)
        if vm is not None:
            self.client.get(f"/vms/{vm}/", name="/vms/<id>/")

    @task(5)
    def vm_poll(self) -> None:
        """What the request page does while a VM builds: its state, every few seconds."""
        vm = self.mine or random.choice(self.vm_ids)
        if vm is not None:
            self.client.get(f"/api/v1/vms/{vm}/", name="/api/v1/vms/<id>/")

    @task(2)
    def vm_api_list(self) -> None:
        self.client.get("/api/v1/vms/", name="/api/v1/vms/")

    @task(1)
    def vm_request_form(self) -> None:
        self.client.get("/vms/new/", name="/vms/new/")

    @task(1)
    def vm_lifecycle(self) -> None:
        """Request a VM; once it runs, reboot it; then delete it (one at a time per person)."""
        if self.mine is None:
            if self.made >= 2:
                return
            answer = self.api(
                "POST",
                "/api/v1/vms/",
                "/api/v1/vms/ (request)",
                json={
                    "team": "bench",
                    "name": f"load-{self.tag}-{self.made}",
                    "image": "cirros-0.6-x86_64",
                    "flavor": "m1.tiny",
                },
            )
            if answer.status_code == 201:
                self.mine = answer.json()["id"]
                self.made += 1
            return
        vm = self.client.get(f"/api/v1/vms/{self.mine}/", name="/api/v1/vms/<id>/").json()
        actions = vm.get("allowed_actions", [])
        if "reboot" in actions and random.random() < 0.5:
            self.api(
                "POST",
                f"/api/v1/vms/{self.mine}/action/",
                "/api/v1/vms/<id>/action/",
                json={"action": "reboot"},
            )
        elif vm.get("status") in ("active", "failed"):
            self.api("DELETE", f"/api/v1/vms/{self.mine}/", "/api/v1/vms/<id>/ (delete)")
            self.mine = None

    @task(1)
    def quota_ask(self) -> None:
        """The team lead asks for more floating IPs now and then (a refusal is an answer too)."""
        if not self.lead or random.random() > 0.3:
            return
        with self.api(
            "POST",
            "/api/v1/quota-requests/",
            "/api/v1/quota-requests/ (ask)",
            json={"team": "bench", "values": {"floating_ips": random.randint(20, 60)}, "reason": "load test"},
            catch_response=True,
        ) as answer:
            if answer.status_code in (201, 400):
                answer.success()

    def on_stop(self) -> None:
        if self.mine is not None:
            self.api("DELETE", f"/api/v1/vms/{self.mine}/", "/api/v1/vms/<id>/ (delete)")


class Manager(Person):
    weight = 2
    username = "bench-manager"

    @task(4)
    def dashboard(self) -> None:
        self.client.get("/inventory/dashboard/", name="/inventory/dashboard/")

    @task(4)
    def utilization(self) -> None:
        self.client.get("/inventory/utilization/", name="/inventory/utilization/")

    @task(1)
    def history(self) -> None:
        self.client.get("/inventory/utilization/history/", name="/inventory/utilization/history/")

    @task(1)
    def quotas(self) -> None:
        self.client.get("/quotas/", name="/quotas/")

    @task(1)
    def servers(self) -> None:
        self.client.get("/inventory/servers/", name="/inventory/servers/")


class Admin(Person):
    weight = 1
    username = "bench-admin"

    @task(3)
    def requests_page(self) -> None:
        self.client.get("/quotas/requests/", name="/quotas/requests/")

    @task(2)
    def approve(self) -> None:
        pending = self.client.get(
            "/api/v1/quota-requests/?status=pending", name="/api/v1/quota-requests/?status=pending"
        ).json()
        for item in pending.get("results", [])[:1]:
            with self.api(
                "POST",
                f"/api/v1/quota-requests/{item['id']}/approve/",
                "/api/v1/quota-requests/<id>/approve/",
                json={"comment": "load test"},
                catch_response=True,
            ) as answer:
                if answer.status_code in (200, 400):  # 400: someone else decided it first
                    answer.success()

    @task(1)
    def vm_list(self) -> None:
        self.client.get("/vms/", name="/vms/ (admin)")
