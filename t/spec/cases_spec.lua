-- omni.cases: case ids as callers type them, and the sentence of the
-- gateway's own answers to case.list and case.get (docs/cases.md).

local cases = require "omni.cases"

describe("omni.cases", function()
    it("reads a case id as typed: 10 digits, spaces and dashes between", function()
        assert.equal("4821093756", cases.id_of("4821093756"))
        assert.equal("4821093756", cases.id_of(" 482-109 3756 "))
        assert.is_nil(cases.id_of("482109375"))
        assert.is_nil(cases.id_of("48210937561"))
        assert.is_nil(cases.id_of("48210937a6"))
        assert.is_nil(cases.id_of(("1"):rep(41)))
        assert.is_nil(cases.id_of(42))
    end)

    it("says a list, digit by digit when spoken", function()
        local data = { cases = {
            { id = "4821093756", status = "pending", category = "late_parcel" },
            { id = "0000000000", status = "new", category = "billing" },
        } }
        assert.equal("You have 2 cases. Case 4821093756 (late parcel) is"
                     .. " waiting for your answer. Case 0000000000 (billing)"
                     .. " is received.", cases.summary(data))
        assert.equal("You have 2 cases. Case 4 8 2 1 0 9 3 7 5 6 (late parcel)"
                     .. " is waiting for your answer. Case 0 0 0 0 0 0 0 0 0 0"
                     .. " (billing) is received.", cases.summary(data, true))
        assert.equal("You have no case with us.", cases.summary({ cases = {} }))
    end)

    it("says a case with its latest public note, cut", function()
        local long = ("x"):rep(300)
        local data = { case = { id = "4821093756", status = "resolved",
                                category = "complaint",
                                events = { { kind = "note", text = "first" },
                                           { kind = "reply", text = "mine" },
                                           { kind = "note", text = "a\n b  " .. long } } } }
        local s = cases.summary(data)
        assert.truthy(s:find("^Case 4821093756 %(complaint%) is resolved%. Latest update: a b x"))
        assert.truthy(s:find("%.%.%.$"))
        assert.is_nil(cases.summary({ other = 1 }))
        assert.is_nil(cases.summary("x"))
    end)
end)
