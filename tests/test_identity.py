"""Who a logged-in person is (explorer/ui/identity.py's pure parts): their account, never an
e-mail address; a teacher by a verified e-mail or a claim."""
from __future__ import annotations

from explorer.ui.identity import owner_id_of_user, person_of, teaches, verified_email

ISS = "https://accounts.school.example"
TEACHERS = ("teacher@school.example",)


def test_a_person_is_the_issuer_and_the_subject():
    a = person_of({"iss": ISS, "sub": "123", "email": "teacher@school.example", "email_verified": True})
    b = person_of({"iss": ISS, "sub": "456", "email": "teacher@school.example", "email_verified": True})
    assert a[0] == owner_id_of_user(ISS, "123") and a[0] != b[0]           # same e-mail, two people
    assert person_of({"iss": "https://other.example", "sub": "123"})[0] != a[0]   # same sub elsewhere
    assert person_of({"iss": ISS, "sub": "teacher@school.example"})[0] != a[0]
    assert person_of({"sub": "123"}) is None and person_of({"iss": ISS}) is None


def test_the_name_shown_never_takes_an_unverified_email():
    assert person_of({"iss": ISS, "sub": "1", "name": "Ms T", "email": "x@y.z"})[1] == "Ms T"
    assert person_of({"iss": ISS, "sub": "1", "email": "T@Y.z", "email_verified": True})[1] == "t@y.z"
    assert person_of({"iss": ISS, "sub": "abcdefghijklmnop", "email": "t@y.z"})[1] == "account abcdefghijkl"


def test_an_email_counts_for_the_teacher_list_only_when_verified():
    verified = {"iss": ISS, "sub": "1", "email": "Teacher@School.example", "email_verified": True}
    assert verified_email(verified) == "teacher@school.example" and teaches(verified, TEACHERS, None)
    assert verified_email(dict(verified, email_verified="true")) == "teacher@school.example"
    for claims in (dict(verified, email_verified=False), dict(verified, email_verified="false"),
                   {k: v for k, v in verified.items() if k != "email_verified"},
                   {"iss": ISS, "sub": "teacher@school.example"}):            # a sub is not an e-mail
        assert not teaches(claims, TEACHERS, None), claims
    assert teaches({"iss": ISS, "sub": "2", "roles": ["teacher"]}, TEACHERS, ("roles", "teacher"))
    assert not teaches(None, TEACHERS, ("roles", "teacher"))


def test_new_owners_per_address_are_rate_limited_but_a_class_gets_in():
    from explorer.ui.identity import take_new_owner
    t = 1000.0
    router = "203.0.113.7"
    assert all(take_new_owner(router, 30, t) == 0.0 for _ in range(60))     # a class of 60 at once
    wait = take_new_owner(router, 30, t)                                   # the 61st waits ...
    assert wait == 2.0 and take_new_owner(router, 30, t + 1.0) > 0         # ... 2 s (30 a minute)
    assert take_new_owner(router, 30, t + 2.0) == 0.0
    assert take_new_owner("198.51.100.9", 30, t) == 0.0                    # another address: its own
    made = sum(take_new_owner(router, 30, t + 2.0 + i) == 0.0 for i in range(600))   # ten minutes of
    assert made <= 301                                                     # a script: 30 a minute
