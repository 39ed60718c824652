"""One vocabulary and one error type for surrogate settings (issue 15)."""

from __future__ import annotations

import pytest

from bnnbo.errors import ConfigError, UnknownNameError
from bnnbo.surrogates import SURROGATES, get_surrogate
from bnnbo.surrogates.base import SETTING_ALIASES


def test_the_common_names_are_accepted_where_a_surrogate_spells_them_its_own_way():
    s = get_surrogate("sghmc", standardize_y=False, train_steps=2000).settings
    assert (s.standardize, s.num_steps) == (False, 2000)
    assert get_surrogate("laplace", train_steps=7).settings.steps == 7
    # the stored (resolved) settings keep the surrogate's own names: old stores compare equal
    assert (
        get_surrogate("sghmc", train_steps=2000).settings.to_dict()
        == get_surrogate("sghmc", num_steps=2000).settings.to_dict()
    )


def test_an_alias_beside_its_setting_is_refused():
    with pytest.raises(ConfigError, match="'train_steps' and 'num_steps' are the same setting"):
        get_surrogate("sghmc", train_steps=1, num_steps=2)


def test_aliases_name_real_settings_and_surrogates():
    from bnnbo.surrogates import surrogate_class

    for owner, table in SETTING_ALIASES.items():
        fields = surrogate_class(owner).Settings.fields()
        for alias, name in table.items():
            assert name in fields and alias not in fields


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_bad_settings_raise_the_config_errors_naming_surrogate_and_setting(name):
    from bnnbo.surrogates import surrogate_class

    with pytest.raises(UnknownNameError, match=rf"{name}: .*no_such_setting"):
        get_surrogate(name, no_such_setting=1)
    field = next(iter(surrogate_class(name).Settings.fields()))
    with pytest.raises(ConfigError, match=rf"{name}: .*{field}"):
        get_surrogate(name, **{field: object()})


def test_gp_settings_checks_raise_config_errors_themselves():
    from bnnbo.surrogates.gaussian.gp import GPSettings

    with pytest.raises(ConfigError, match="warm_maxiter must be >= 1"):
        GPSettings(warm_maxiter=0)
