-- A plugin without render(): nginx -t must say so.

local _M = { name = "norender", version = "1.0" }

function _M.normalize(req)
    return { action = "x.y" }
end

return _M
