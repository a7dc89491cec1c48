/** Placeholder until the portal lands: shows the workspace and how to reach the management API. */
export function portalPage(workspaceId: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Spotflow emulator</title></head>
<body><h1>Spotflow emulator</h1><p>Workspace <code>${workspaceId.replace(/[<>&"]/g, '')}</code></p></body></html>`;
}
