/// The Mustache templates of the status page (``StatusPage``).
///
/// Every value is inserted with `{{name}}`, which escapes `<`, `>`, `&`, `"`
/// and `'`: task names, log-derived text, outcome details and plugin reasons
/// come from plugins or pushes. Never use `{{{name}}}` (unescaped) here; a test
/// checks that no template does.
enum StatusTemplates {
    /// The page. Readable without JavaScript; `<meta http-equiv="refresh">`
    /// reloads it every `refreshSeconds`.
    static let page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="refresh" content="{{refreshSeconds}}">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>taskhost status</title>
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; background: #fafafa; }
        h1 { font-size: 1.4em; margin: 0 0 .2em; }
        h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
        p.meta { color: #555; margin: 0; }
        table { border-collapse: collapse; background: #fff; }
        th, td { text-align: left; padding: .25em .7em; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
        th { background: #f0f0f0; font-weight: 600; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        code, td.id { font-family: ui-monospace, monospace; font-size: .95em; }
        .outcome-ok { color: #137333; }
        .outcome-failed { color: #b3261e; font-weight: 600; }
        .outcome-running { color: #8a5a00; }
        .state-active { color: #137333; }
        .state-quarantined, .state-disabled { color: #b3261e; font-weight: 600; }
        .empty { color: #777; font-style: italic; }
        .last-line { font-family: ui-monospace, monospace; font-size: .9em; color: #444; white-space: pre-wrap; overflow-wrap: anywhere; }
        td.log { min-width: 16em; }
        .app { color: #666; font-size: .85em; }
        .counts { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
        td.nowrap { white-space: nowrap; }
        </style>
        </head>
        <body>
        <h1>taskhost status</h1>
        <p class="meta">Taken at <time datetime="{{takenAt}}">{{takenAt}}</time> by host process {{hostPid}} (taskhost {{version}}, isolation {{isolation}}). This page reloads itself every {{refreshSeconds}} s.</p>

        <h2 id="queue">Trigger queue</h2>
        <table class="queue">
        <tr>{{#queue}}<th>{{state}}</th>{{/queue}}</tr>
        <tr>{{#queue}}<td class="num" data-state="{{state}}">{{count}}</td>{{/queue}}</tr>
        </table>

        <h2 id="instances">Recent instances</h2>
        {{#hasInstances}}
        <table class="instances">
        <tr><th>Instance</th><th>Task (app)</th><th>Host</th><th>Trigger</th><th>Attempt</th><th>Started</th><th>Duration</th><th>Outcome</th><th>Last log line</th></tr>
        {{#instances}}
        <tr class="instance" data-instance="{{id}}" data-outcome="{{outcomeCode}}">
        <td class="id" title="{{id}}">{{shortId}}</td><td class="task">{{task}}<div class="app">{{app}}</div></td><td class="nowrap">pid {{hostPid}}</td><td>{{trigger}}</td>
        <td class="num">{{attempt}}</td><td class="nowrap">{{started}}</td><td class="num nowrap">{{duration}}</td>
        <td class="outcome outcome-{{outcomeClass}}">{{outcome}}</td>
        <td class="log"><a href="{{logPath}}">log</a> <span class="last-line">{{lastLine}}</span></td>
        </tr>
        {{/instances}}
        </table>
        {{/hasInstances}}
        {{^hasInstances}}<p class="empty">No instance has run yet.</p>{{/hasInstances}}

        <h2 id="plugins">Plugins</h2>
        {{#hasPlugins}}
        <table class="plugins">
        <tr><th>Plugin</th><th>App</th><th>Version</th><th>State</th><th>Tasks</th><th>Reason</th></tr>
        {{#plugins}}
        <tr class="plugin" data-plugin="{{name}}" data-state="{{state}}">
        <td class="nowrap">{{name}}</td><td>{{identity}}</td><td>{{version}}</td><td class="state-{{state}}">{{state}}</td><td>{{tasks}}</td><td>{{reason}}</td>
        </tr>
        {{/plugins}}
        </table>
        {{/hasPlugins}}
        {{^hasPlugins}}<p class="empty">No plugin in the drop-in directory.</p>{{/hasPlugins}}
        {{#hasDisabledTasks}}
        <h2 id="disabled">Disabled tasks</h2>
        <table class="disabled">
        <tr><th>Task</th><th>App</th><th>Since</th><th>Reason</th></tr>
        {{#disabledTasks}}
        <tr class="disabled-task"><td>{{name}}</td><td>{{app}}</td><td>{{since}}</td><td>{{reason}}</td></tr>
        {{/disabledTasks}}
        </table>
        {{/hasDisabledTasks}}

        <h2 id="access">Channels and credentials</h2>
        <div class="counts">
        <table class="channels">
        <tr><th>Channels</th><th>Count</th></tr>
        <tr><td>active</td><td class="num" data-channels="active">{{channels.active}}</td></tr>
        <tr><td>expired</td><td class="num" data-channels="expired">{{channels.expired}}</td></tr>
        <tr><td>revoked</td><td class="num" data-channels="revoked">{{channels.revoked}}</td></tr>
        </table>
        <table class="credentials">
        <tr><th>Credentials</th><th>Count</th></tr>
        <tr><td>active</td><td class="num" data-credentials="active">{{credentials.active}}</td></tr>
        <tr><td>revoked</td><td class="num" data-credentials="revoked">{{credentials.revoked}}</td></tr>
        </table>
        </div>

        <h2 id="sandbox">Sandbox</h2>
        <table class="sandbox">
        <tr><th>Setting</th><th>Value</th></tr>
        {{#sandboxSettings}}
        <tr><td>{{name}}</td><td>{{value}}</td></tr>
        {{/sandboxSettings}}
        </table>
        {{#hasSandboxLayers}}
        <p>Layers reported by the most recent instance (<a href="{{sandboxLogPath}}"><code>{{sandboxInstance}}</code></a>):</p>
        <table class="layers">
        {{#sandboxLayers}}
        <tr><th>{{group}}</th><td>{{layers}}</td></tr>
        {{/sandboxLayers}}
        </table>
        {{/hasSandboxLayers}}
        {{^hasSandboxLayers}}<p class="empty">No instance has reported its sandbox yet (<code>taskhost doctor</code> probes it).</p>{{/hasSandboxLayers}}
        </body>
        </html>

        """
}
