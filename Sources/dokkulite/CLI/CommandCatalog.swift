/// Every command dokkulite knows, in help order.
enum CommandCatalog {
    static let all: [any Command.Type] = [
        AppsCreate.self, AppsDestroy.self, AppsExists.self, AppsList.self, AppsLock.self, AppsLocked.self,
        AppsRename.self, AppsReport.self, AppsUnlock.self,
        ConfigBare.self, ConfigClear.self, ConfigExport.self, ConfigGet.self, ConfigImport.self, ConfigKeys.self,
        ConfigSet.self, ConfigShow.self, ConfigUnset.self,
        DomainsAdd.self, DomainsAddGlobal.self, DomainsClear.self, DomainsClearGlobal.self, DomainsRemove.self,
        DomainsRemoveGlobal.self, DomainsReport.self, DomainsReset.self, DomainsSet.self, DomainsSetGlobal.self,
        PortsAdd.self, PortsClear.self, PortsList.self, PortsRemove.self, PortsReport.self, PortsSet.self,
        Logs.self,
        PSReport.self, PSRestart.self, PSRestore.self, PSScale.self, PSSet.self, PSStart.self, PSStop.self,
        ResourceLimit.self, ResourceLimitClear.self, ResourceReport.self, ResourceReset.self,
        Run.self,
    ]
}
