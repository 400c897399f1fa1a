"""Messages stored when something happens are stored as catalogue ids with parameters and shown in the
reader's language; rows stored before (plain English) and ids a release dropped still show their text."""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from portal.stored_messages import catalogue, message_define, message_from_ref, message_join, message_text
from provisioning import stored_messages as vm_texts


def test_a_message_is_stored_as_its_id_and_parameters_and_rendered_in_the_readers_language():
    message = vm_texts.BUILT(host="x2")

    ref = message.ref()

    assert ref == {"id": "vm.built", "params": {"host": "x2"}}
    assert message.english() == "Built on x2."
    with translation.override("zh-hans"):
        assert message_text(ref, "Built on x2.") == "已在 x2 上创建。"
        assert message.english() == "Built on x2."  # the stored text stays English whoever stores it
    with translation.override("en"):
        assert message_text(ref, "") == "Built on x2."


def test_a_message_as_a_parameter_is_translated_with_its_sentence():
    message = vm_texts.ACTION_ASKED(user="dev1", action=vm_texts.ACTION_VERBS["stop"]())

    ref = message.ref()

    assert ref["params"]["action"] == {"$msg": "vm.verb.stop", "params": {}}
    assert message.english() == "dev1 asked to stop it."
    with translation.override("zh-hans"):
        text = message_text(ref)
    assert "dev1" in text and "stop" not in text and text != "dev1 asked to stop it."


def test_a_row_from_before_the_catalogue_shows_its_stored_text():
    assert message_text(None, "Requested by dev1.") == "Requested by dev1."
    assert message_text({}, "Requested by dev1.") == "Requested by dev1."


def test_an_id_this_release_does_not_know_shows_the_stored_text():
    ref = {"id": "vm.no_such_message", "params": {}}
    assert message_from_ref(ref) is None
    assert message_text(ref, "Something happened.") == "Something happened."


def test_parameters_that_no_longer_fit_the_template_show_the_stored_text():
    assert message_text({"id": "vm.built", "params": {}}, "Built on x2.") == "Built on x2."
    nested_gone = {"id": "vm.build_fault", "params": {"fault": {"$msg": "vm.gone_for_good", "params": {}}}}
    assert (
        message_text(nested_gone, "The cloud could not build the VM: ?")
        == "The cloud could not build the VM: ?"
    )


def test_an_id_is_defined_once():
    with pytest.raises(ValueError, match=r"vm\.built"):
        message_define("vm.built", _("Built on %(host)s."))


def test_every_app_that_stores_messages_has_them_in_the_catalogue_at_start_up():
    # PortalConfig.ready imports each app's stored_messages: a web process that never imported the
    # worker's code still renders what the worker stored.
    ids = catalogue()
    assert "vm.requested" in ids and "vm.built" in ids


def test_an_imports_failure_reads_in_chinese_step_reason_and_all():
    from catalog import stored_messages as import_texts

    failed = import_texts.STEP_FAILED(
        step=import_texts.STEPS["converting"](), reason=import_texts.CONVERT_SLOW(s=600)
    )

    assert failed.english() == "Converting failed: qemu-img convert took longer than 600 s."
    with translation.override("zh-hans"):
        chinese = message_text(failed.ref(), failed.english())
    assert "600" in chinese and "Converting" not in chinese and "took longer" not in chinese


def test_joined_sentences_read_as_one_message_in_either_language():
    from catalog import stored_messages as import_texts

    joined = message_join(import_texts.IMPORTED(algo="sha512"), import_texts.OFFERED())

    assert joined.english() == "Imported and verified (sha512). Offered to developers."
    with translation.override("zh-hans"):
        chinese = message_text(joined.ref())
    assert "sha512" in chinese and " " not in chinese.replace("(sha512)", "")
