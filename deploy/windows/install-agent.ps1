<#
.SYNOPSIS
  Installs the Wardround agent as a Windows service with WinSW. Idempotent: run it again to upgrade.

.DESCRIPTION
  Layout (defaults):
    C:\Program Files\Wardround\venv          the agent (Python venv; Administrators write, others read)
    C:\Program Files\Wardround\wardround-agent.exe / .xml   WinSW and its service definition
    C:\ProgramData\Wardround\agent.yaml      the config (example: deploy\agent.windows-his.example.yaml)
    C:\ProgramData\Wardround\agent.token     the agent token (readable by the service account only)
    C:\ProgramData\Wardround\spool.db        the spool
    C:\ProgramData\Wardround\logs            WinSW's service logs
  The service runs as the virtual account "NT SERVICE\wardround-agent" (no password, not an admin).

.EXAMPLE
  # as Administrator, from the repository (or an unpacked release):
  .\deploy\windows\install-agent.ps1 -WinSW C:\Downloads\WinSW-x64.exe -Token (Get-Content token.txt)
#>
[CmdletBinding()]
param(
  [Parameter(Mandatory = $true)][string]$WinSW,         # path to WinSW-x64.exe (downloaded from its releases)
  [string]$Python = "py",                               # a Python 3.11+ launcher or python.exe
  [string]$Token = "",                                  # the agent token; written once to agent.token
  [string]$Source = (Resolve-Path "$PSScriptRoot\..\.."),
  [string]$ProgramDir = "C:\Program Files\Wardround",
  [string]$DataDir = "C:\ProgramData\Wardround"
)
$ErrorActionPreference = "Stop"
$Account = "NT SERVICE\wardround-agent"

if (-not ([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
          ).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw "Run this script as Administrator: it installs a service."
}
if (-not (Test-Path $WinSW)) { throw "WinSW not found: $WinSW" }

New-Item -ItemType Directory -Force -Path $ProgramDir, $DataDir, "$DataDir\logs" | Out-Null
if (-not (Test-Path "$ProgramDir\venv\Scripts\python.exe")) {
  & $Python -3.11 -m venv "$ProgramDir\venv"
  if ($LASTEXITCODE -ne 0) { & $Python -m venv "$ProgramDir\venv" }
}
& "$ProgramDir\venv\Scripts\python.exe" -m pip install --quiet --upgrade pip
& "$ProgramDir\venv\Scripts\python.exe" -m pip install --quiet --upgrade "$Source[db]"
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }

Copy-Item -Force $WinSW "$ProgramDir\wardround-agent.exe"
Copy-Item -Force "$PSScriptRoot\wardround-agent.xml" "$ProgramDir\wardround-agent.xml"

if (-not (Test-Path "$DataDir\agent.yaml")) {
  Copy-Item "$Source\deploy\agent.windows-his.example.yaml" "$DataDir\agent.yaml.example"
  Write-Host "Edit $DataDir\agent.yaml (example: $DataDir\agent.yaml.example), then run this script again."
}
if ($Token) {
  Set-Content -Path "$DataDir\agent.token" -Value $Token -NoNewline -Encoding ascii
}

$svc = Get-Service -Name "wardround-agent" -ErrorAction SilentlyContinue
if ($svc) {
  & "$ProgramDir\wardround-agent.exe" stop | Out-Null
} else {
  & "$ProgramDir\wardround-agent.exe" install
  if ($LASTEXITCODE -ne 0) { throw "WinSW install failed" }
}

# The virtual account exists once the service does: only it (and admins) read the token and
# write the spool; everyone else is cut off.
icacls $DataDir /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" "${Account}:(OI)(CI)M" | Out-Null
if (Test-Path "$DataDir\agent.token") {
  icacls "$DataDir\agent.token" /inheritance:r /grant:r "Administrators:F" "${Account}:R" | Out-Null
}

if (Test-Path "$DataDir\agent.yaml") {
  & "$ProgramDir\venv\Scripts\wardround-agent.exe" once --config "$DataDir\agent.yaml" | Out-Host
  & "$ProgramDir\wardround-agent.exe" start
  Write-Host "wardround-agent service started."
} else {
  Write-Host "Service installed but not started: write $DataDir\agent.yaml first."
}
