-- Argo CD health check for taskmill.io/BatchJob.
--
-- Reads the status the taskmill operator writes (phase, normalizedStatus, progress and
-- metav1 conditions with observedGeneration) and maps it to Argo CD's health:
--   Progressing  no status yet, or status older than the spec (observedGeneration),
--                or the job is still running or waiting
--   Degraded     the job failed or was cancelled (Failed, Cancelled or Stalled=True)
--   Healthy      the job succeeded (phase Succeeded, Complete=True or Ready=True)
--   Suspended    spec.suspend is set (Suspended=True, normalized status OnHold)
-- Written for Argo CD's Lua 5.1 sandbox: base functions only, no string library.

local function condition(status, conditionType)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function isTrue(status, conditionType)
  local c = condition(status, conditionType)
  return c ~= nil and c.status == "True"
end

-- "<reason>: <message>" of the first condition present, for the health message.
local function explain(status, types, fallback)
  for _, conditionType in ipairs(types) do
    local c = condition(status, conditionType)
    if c ~= nil and c.message ~= nil and c.message ~= "" then
      return (c.reason or conditionType) .. ": " .. c.message
    end
  end
  return fallback
end

local hs = {}
local status = obj.status
local generation = obj.metadata.generation

if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the taskmill operator to accept the BatchJob"
  return hs
end

if generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the taskmill operator to observe generation " .. tostring(generation)
    .. " (status is for generation " .. tostring(status.observedGeneration) .. ")"
  return hs
end

local progress = ""
if status.progress ~= nil and status.progress ~= "" then
  progress = " (" .. status.progress .. " tasks succeeded)"
end

if status.phase == "Failed" or isTrue(status, "Failed") then
  hs.status = "Degraded"
  hs.message = explain(status, {"Failed", "Stalled"}, "BatchJob failed") .. progress
  return hs
end

if status.phase == "Cancelled" or isTrue(status, "Cancelled") or isTrue(status, "Stalled") then
  hs.status = "Degraded"
  hs.message = explain(status, {"Cancelled", "Stalled"}, "BatchJob was cancelled") .. progress
  return hs
end

if status.phase == "Succeeded" or isTrue(status, "Complete") or isTrue(status, "Ready") then
  hs.status = "Healthy"
  hs.message = "BatchJob succeeded" .. progress
  return hs
end

local suspendRequested = obj.spec ~= nil and obj.spec.suspend == true
if suspendRequested or status.normalizedStatus == "OnHold" or isTrue(status, "Suspended") then
  hs.status = "Suspended"
  hs.message = explain(status, {"Suspended"}, "BatchJob is suspended") .. progress
  return hs
end

hs.status = "Progressing"
local normalized = status.normalizedStatus or "Unknown"
hs.message = normalized .. ": " .. explain(status, {"Reconciling"}, "BatchJob is running")
return hs
