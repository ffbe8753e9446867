/// Every command dokkulite knows, in help order.
enum CommandCatalog {
    static let all: [any Command.Type] = [
        AppsCreate.self, AppsDestroy.self, AppsExists.self, AppsList.self, AppsLock.self, AppsLocked.self,
        AppsRename.self, AppsReport.self, AppsSet.self, AppsUnlock.self,
        BuildpacksAdd.self, BuildpacksClear.self, BuildpacksList.self, BuildpacksRemove.self, BuildpacksReport.self, BuildpacksSet.self,
        CertsAdd.self, CertsRemove.self, CertsReport.self,
        ChecksDisable.self, ChecksEnable.self, ChecksReport.self, ChecksSet.self, ChecksSkip.self,
        CronList.self, CronRun.self,
        ConfigBare.self, ConfigClear.self, ConfigExport.self, ConfigGet.self, ConfigImport.self, ConfigKeys.self,
        ConfigSet.self, ConfigShow.self, ConfigUnset.self,
        DomainsAdd.self, DomainsAddGlobal.self, DomainsClear.self, DomainsClearGlobal.self, DomainsDisable.self, DomainsEnable.self, DomainsRemove.self,
        DomainsRemoveGlobal.self, DomainsReport.self, DomainsReset.self, DomainsSet.self, DomainsSetGlobal.self,
        GitFromArchive.self, GitReport.self, GitSet.self, GitSync.self,
        GitHook.self, GitReceivePack.self, GitUploadPack.self,
        Logs.self,
        PluginDisable.self, PluginEnable.self, PluginInstall.self, PluginList.self, PluginTrigger.self, PluginUninstall.self,
        PortsAdd.self, PortsClear.self, PortsList.self, PortsRemove.self, PortsReport.self, PortsSet.self,
        PSRebuild.self, PSReport.self, PSRestart.self, PSRestore.self, PSRetire.self, PSScale.self, PSSet.self, PSStart.self, PSStop.self,
        Releases.self, ReleasesRollback.self,
        ResourceLimit.self, ResourceLimitClear.self, ResourceReport.self, ResourceReserve.self, ResourceReserveClear.self, ResourceReset.self,
        ProxyBuildConfig.self, ProxyDaemonCommand.self, ProxyDisable.self, ProxyEnable.self, ProxyReport.self, ProxyServe.self, ProxySet.self,
        Run.self,
        SSHCommand.self, SSHKeysAdd.self, SSHKeysList.self, SSHKeysRemove.self,
        StaticServe.self,
        StorageEnsureDirectory.self, StorageList.self, StorageMount.self, StorageReport.self, StorageUnmount.self,
        URLCommand.self, URLsCommand.self,
    ]
}
