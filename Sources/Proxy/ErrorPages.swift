internal import NIOHTTP1

/// The pages the proxy answers with itself: short, clear, and naming what went wrong.
enum ErrorPages {
    static func page(_ status: HTTPResponseStatus, detail: String) -> String {
        let title = "\(status.code) \(status.reasonPhrase)"
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>\(title)</title></head>
            <body><h1>\(title)</h1><p>\(HTML.escape(detail))</p><hr><p>dokkulite</p></body></html>

            """
    }
}

/// Text made safe inside HTML, in an element or a quoted attribute.
package enum HTML {
    package static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
