import { useTranslation } from 'react-i18next';
import { Badge } from '../../components/kit';

/** One verification's outcome as a word and a badge: verified, failed, or not checked (null). */
export function Verdict({ ok, label, testId }: { ok: boolean | null; label: string; testId?: string }) {
  const { t } = useTranslation();
  const word = ok === null ? t('audit.verdict.unchecked') : ok ? t('audit.verdict.ok') : t('audit.verdict.failed');
  return (
    <span data-testid={testId} data-verdict={ok === null ? 'unchecked' : ok ? 'ok' : 'failed'}>
      <Badge tone={ok === null ? 'warn' : ok ? 'ok' : 'bad'}>{word}</Badge> {label}
    </span>
  );
}
