internal import CGit2
import Foundation

extension GitRepository {
    /// Commits the files of `directory` (a whole tree, no history of its own) on top of
    /// `branch` and moves the branch to the new commit; returns the commit id. Used for
    /// code that arrives as an archive or from another repository.
    package func commitDirectory(_ directory: String, branch: String, message: String) throws(BuildError) -> String {
        let tree = try writeTree(directory)
        var treeObject: OpaquePointer?
        var treeID = tree
        try Self.check(git_tree_lookup(&treeObject, repositoryPointer, &treeID), "read new tree")
        defer { git_tree_free(treeObject) }
        var signature: UnsafeMutablePointer<git_signature>?
        try Self.check(git_signature_now(&signature, "dokkulite", "dokkulite@localhost"), "signature")
        defer { git_signature_free(signature) }
        var parent: OpaquePointer?
        let ref = "refs/heads/\(branch)"
        var parentID = git_oid()
        if git_reference_name_to_id(&parentID, repositoryPointer, ref) == 0 {
            try Self.check(git_commit_lookup(&parent, repositoryPointer, &parentID), "read \(branch)")
        }
        defer { if let parent { git_commit_free(parent) } }
        var commitID = git_oid()
        var parents: [OpaquePointer?] = parent.map { [$0] } ?? []
        let result = parents.withUnsafeMutableBufferPointer { buffer in
            git_commit_create(&commitID, repositoryPointer, ref, signature, signature, "UTF-8", message, treeObject, buffer.count, buffer.baseAddress)
        }
        try Self.check(result, "commit to \(branch)")
        return Self.hex(&commitID)
    }

    /// Writes a directory as a tree object (files as blobs, symlinks as links, executables
    /// with mode 755) and returns its id. `.git` directories are skipped.
    private func writeTree(_ directory: String) throws(BuildError) -> git_oid {
        var builder: OpaquePointer?
        try Self.check(git_treebuilder_new(&builder, repositoryPointer, nil), "tree builder")
        defer { git_treebuilder_free(builder) }
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw .io(path: directory, reason: "\(error)")
        }
        for name in entries where name != ".git" {
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            var id = git_oid()
            let mode: git_filemode_t
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                id = try writeTree(path)
                mode = GIT_FILEMODE_TREE
            case S_IFLNK:
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
                try Self.check(git_blob_create_from_buffer(&id, repositoryPointer, target, target.utf8.count), "store link \(path)")
                mode = GIT_FILEMODE_LINK
            case S_IFREG:
                try Self.check(git_blob_create_from_disk(&id, repositoryPointer, path), "store \(path)")
                mode = info.st_mode & 0o111 != 0 ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB
            default:
                continue
            }
            try Self.check(git_treebuilder_insert(nil, builder, name, &id, mode), "add \(name)")
        }
        var tree = git_oid()
        try Self.check(git_treebuilder_write(&tree, builder), "write tree")
        return tree
    }

    /// Points HEAD at a branch (so `git clone` of the repository checks it out).
    package func setHead(branch: String) throws(BuildError) {
        try Self.check(git_repository_set_head(repositoryPointer, "refs/heads/\(branch)"), "set HEAD to \(branch)")
    }
}
