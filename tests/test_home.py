"""The home page (home.py) under AppTest: a shipped model's scatter and a decoder steered by sliders."""

from conftest import app_test, assert_page_ok


def test_home_renders_featured_models_and_the_sliders_decode(page_engine):
    at = app_test("home.py", default_timeout=120).run()
    assert_page_ok(at)
    options = at.selectbox[0].options
    assert at.selectbox[0].value == "mnist-vae-z2"           # real digits first, not 8×8 blobs
    assert "digits VAE, 2-D latent, β=1" in options
    assert not any("sweep" in o for o in options)           # the β lab's members are not featured
    assert len(at.slider) == 2
    before = at.get("image")[0].proto.imgs[0]
    assert before.caption == "decoder mean at z = (0.00, 0.00)"
    at.slider[0].set_value(2.0).run()
    assert_page_ok(at)
    after = at.get("image")[0].proto.imgs[0]
    assert after.caption == "decoder mean at z = (2.00, 0.00)"
    assert after.url != before.url                           # a different image was decoded
