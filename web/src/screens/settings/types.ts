/** GET /v1/settings and its template preview (not in the generated SDK types yet). */
export interface SettingsInfo {
  delivery: {
    reminderOffsetsMinutes: number[];
    quietHours: { start: string; end: string } | null;
    scope: string;
    sources: { reminderOffsets: string; quietHours: string };
  };
  channels: {
    channel: string;
    provider: string;
    live: boolean;
    facts: Record<string, string | number | boolean>;
    variables: string[];
  }[];
  notificationTypes: string[];
}

export interface Rendered {
  secure: { title: string; body: string };
  nudge: { sms: string; emailSubject: string; email: string; webhook: string; push: string };
}

export interface Preview {
  type: string;
  sample: Record<string, string | number>;
  organisation: string;
  languages: { en: Rendered; es: Rendered };
}
