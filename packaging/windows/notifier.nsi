; Windows installer for Order Notifier (NSIS 3, Unicode). Compiled by
; packaging/windows/build-installer.sh (makensis runs on Linux and Windows alike):
;
;   makensis -DVERSION=0.1.0 -DBUNDLE=dist\order-notifier -DOUTFILE=dist\OrderNotifier-0.1.0-setup.exe notifier.nsi
;
; Per user, no administrator rights: the program goes to %LOCALAPPDATA%\Programs\Order Notifier,
; its shortcut to the user's Start menu, its uninstaller entry to HKCU (listed in Settings > Apps).
; Upgrading installs over the same folder after closing the running program; settings, the order
; history (ledger) and logs live in %LOCALAPPDATA%\OrderNotifier (platformdirs), which neither
; the installer nor the uninstaller touches.
;
; Silent install for IT staff: `OrderNotifier-X-setup.exe /S` (start at login on, as in the
; dialog), `/S /NOSTARTUP` to leave it off; silent uninstall: `uninstall.exe /S`.

Unicode true
ManifestDPIAware true
SetCompressor /SOLID lzma

!ifndef VERSION
  !error "pass -DVERSION=x.y.z (packaging/windows/build-installer.sh reads notifier/__init__.py)"
!endif
!ifndef BUNDLE
  !error "pass -DBUNDLE=<the PyInstaller folder holding notifier.exe and _internal>"
!endif
!ifndef OUTFILE
  !define OUTFILE "OrderNotifier-${VERSION}-setup.exe"
!endif
!ifndef VERSION4
  !define VERSION4 "${VERSION}.0"  ; VIProductVersion wants four numbers
!endif

!define APPNAME "Order Notifier"
!define EXE "notifier.exe"
!define PUBLISHER "Order Notifier"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\OrderNotifier"
; The same value notifier/desktop/autostart.py writes, so the app's "start at login" setting and
; this checkbox are one switch.
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define RUN_VALUE "OrderNotifier"
!define ICON "..\..\resources\icons\order-notifier.ico"

Name "${APPNAME}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\${APPNAME}"
InstallDirRegKey HKCU "${UNINST_KEY}" "InstallLocation"  ; an upgrade goes where the last one went
BrandingText "${APPNAME} ${VERSION}"

VIProductVersion "${VERSION4}"
VIFileVersion "${VERSION4}"
VIAddVersionKey /LANG=0 "ProductName" "${APPNAME}"
VIAddVersionKey /LANG=0 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "FileDescription" "${APPNAME} Setup"
VIAddVersionKey /LANG=0 "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=0 "LegalCopyright" "MIT License"

!include "MUI2.nsh"
!include "nsDialogs.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE}"
!define MUI_LANGDLL_ALLLANGUAGES

Var StartAtLogin   ; 1 = write the Run value
Var StartupBox

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
Page custom StartupPage StartupPageLeave
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "SimpChinese"
!insertmacro MUI_LANGUAGE "English"

LangString StartupTitle ${LANG_ENGLISH} "Start at login"
LangString StartupTitle ${LANG_SIMPCHINESE} "开机启动"
LangString StartupText ${LANG_ENGLISH} "Order Notifier waits in the notification area and announces orders as they arrive."
LangString StartupText ${LANG_SIMPCHINESE} "订单提醒常驻在任务栏通知区域，新订单到达时语音播报。"
LangString StartupCheck ${LANG_ENGLISH} "Start Order Notifier when I log in"
LangString StartupCheck ${LANG_SIMPCHINESE} "登录 Windows 时自动启动订单提醒"

; -- closing a running copy ---------------------------------------------------------------
; A per-user install can only end its own user's processes. First politely (WM_CLOSE), then
; for real; the ledger is SQLite, which survives an abrupt end. Then wait until the program file
; is no longer locked, so the copy below cannot fail half-way.
!macro CLOSE_RUNNING un
Function ${un}CloseRunning
  ReadEnvStr $1 "USERNAME"
  nsExec::Exec 'taskkill /IM "${EXE}" /FI "USERNAME eq $1"'
  Pop $0
  Sleep 1500
  nsExec::Exec 'taskkill /F /IM "${EXE}" /FI "USERNAME eq $1"'
  Pop $0
  StrCpy $2 0
  ${Do}
    IfFileExists "$INSTDIR\${EXE}" 0 done
    ClearErrors
    FileOpen $0 "$INSTDIR\${EXE}" a
    ${IfNot} ${Errors}
      FileClose $0
      Goto done
    ${EndIf}
    IntOp $2 $2 + 1
    ${If} $2 > 50
      Goto done  ; 10 s: give up waiting; the copy will report the locked file
    ${EndIf}
    Sleep 200
  ${Loop}
  done:
FunctionEnd
!macroend
!insertmacro CLOSE_RUNNING ""
!insertmacro CLOSE_RUNNING "un."

Function .onInit
  !insertmacro MUI_LANGDLL_DISPLAY
  ; Default: on for a new install; an upgrade keeps what the user has now.
  StrCpy $StartAtLogin 1
  ReadRegStr $0 HKCU "${UNINST_KEY}" "DisplayVersion"
  ${If} $0 != ""
    ReadRegStr $1 HKCU "${RUN_KEY}" "${RUN_VALUE}"
    ${If} $1 == ""
      StrCpy $StartAtLogin 0
    ${EndIf}
  ${EndIf}
  ${GetParameters} $0
  ClearErrors
  ${GetOptions} $0 "/NOSTARTUP" $1
  ${IfNot} ${Errors}
    StrCpy $StartAtLogin 0
  ${EndIf}
FunctionEnd

Function StartupPage
  !insertmacro MUI_HEADER_TEXT "$(StartupTitle)" ""
  nsDialogs::Create 1018
  Pop $0
  ${If} $0 == error
    Abort
  ${EndIf}
  ${NSD_CreateLabel} 0 0 100% 24u "$(StartupText)"
  Pop $0
  ${NSD_CreateCheckbox} 0 30u 100% 12u "$(StartupCheck)"
  Pop $StartupBox
  ${If} $StartAtLogin == 1
    ${NSD_Check} $StartupBox
  ${EndIf}
  nsDialogs::Show
FunctionEnd

Function StartupPageLeave
  ${NSD_GetState} $StartupBox $0
  ${If} $0 == ${BST_CHECKED}
    StrCpy $StartAtLogin 1
  ${Else}
    StrCpy $StartAtLogin 0
  ${EndIf}
FunctionEnd

Section "Install"
  SetShellVarContext current
  Call CloseRunning
  ; The old version's libraries go first: files a new version no longer ships must not linger.
  ; Only program files live here; the user's data is elsewhere (see the top of this file).
  RMDir /r "$INSTDIR\_internal"

  SetOutPath "$INSTDIR"
  File "${BUNDLE}\${EXE}"
  File /r "${BUNDLE}\_internal"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\${APPNAME}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0

  ${If} $StartAtLogin == 1
    WriteRegStr HKCU "${RUN_KEY}" "${RUN_VALUE}" '"$INSTDIR\${EXE}"'
  ${Else}
    DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  ${EndIf}

  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APPNAME}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" '"$INSTDIR\${EXE}",0'
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" "$0"
SectionEnd

Function un.onInit
  !insertmacro MUI_UNGETLANGUAGE
FunctionEnd

Section "Uninstall"
  SetShellVarContext current
  Call un.CloseRunning
  Delete "$SMPROGRAMS\${APPNAME}.lnk"
  DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  DeleteRegKey HKCU "${UNINST_KEY}"
  Delete "$INSTDIR\${EXE}"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"  ; only if empty: never removes anything the user put there
SectionEnd
