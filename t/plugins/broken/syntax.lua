-- A plugin with a syntax error on line 6: nginx -t must fail naming it.

local _M = { name = "syntax", version = "1.0" }

function _M.normalize(req)
    return { action = "x.y" ]
end

return _M
