# Thin aliases; the work is in scripts/ and devcloud/.
.DEFAULT_GOAL := help
.PHONY: help run test bench lint format messages devcloud devcloud-stop devcloud-status bootstrap

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## install what is missing, start the portal with demo data on http://127.0.0.1:8000 (KENNEL_LDAP_DEMO=1: and a demo directory)
	scripts/run.sh

test: ## install what is missing, start PostgreSQL/Redis/the local cloud, lint and run the whole suite
	scripts/test.sh $(ARGS)

bench: ## run every benchmark (ONLY="horizon load" for some) against a benchmark cloud; prints one table
	scripts/bench.sh $(ONLY)

bootstrap: ## only install what is missing (Debian packages, .venv, compiled translations)
	scripts/bootstrap.sh test

lint: ## ruff lint and format check, mypy on the services, views and the API
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

format: ## apply ruff's fixes and formatting
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

messages: ## refresh the translation catalogues after changing strings
	.venv/bin/python manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var --ignore=devcloud --ignore=bmcsim
	.venv/bin/python manage.py compilemessages --ignore=.venv --ignore=var

devcloud: ## start the local OpenStack (installs on first use)
	devcloud/run start

devcloud-stop: ## stop the local OpenStack
	devcloud/run stop

devcloud-status: ## show which local OpenStack service is up
	devcloud/run status
