import { Alert, Button, Spin } from 'antd';
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import type { QueuedDelivery } from './api';
import { describeFailure, watchFirstAttempt } from './delivery-outcome';
import { messageOf } from './format';
import { useSignedIn } from './session';

/** What the screen says about the last operation an operator started. */
export interface Notice {
  type: 'info' | 'success' | 'warning' | 'error';
  title: ReactNode;
  /** Still going: shown with a spinner. */
  running?: boolean;
  /** The delivery the notice is about, which the reader may open. */
  deliveryId?: string;
}

/** How one kind of queued delivery is named in the notices. */
export interface DeliveryWording {
  /** While queuing and waiting for the first attempt: "Sending a test event…". */
  running: string;
  /** The subject of the outcome's sentence: "The test event". */
  subject: string;
  /** When Herald refused it: "The test event could not be sent". */
  refused: string;
}

interface DeliveryOperation {
  notice: Notice | null;
  busy: boolean;
  /** Queues a delivery, then follows it to the end of its first attempt. */
  run(wording: DeliveryWording, queue: () => Promise<QueuedDelivery>): Promise<void>;
  show(notice: Notice | null): void;
}

/**
 * Queues a delivery (a test event, a resend) and tells how its first attempt went: that is
 * what the operator is waiting for. `onChange` runs when the delivery was queued and again
 * when its attempt is over, for the screen to show the history anew.
 */
export function useDeliveryOperation(webhookId: string, webhookActive: boolean, onChange: () => void): DeliveryOperation {
  const { api } = useSignedIn();
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState(false);
  const current = useRef<AbortController | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;

  // Leaving the screen stops the watching.
  useEffect(() => () => current.current?.abort(), []);

  const show = useCallback((next: Notice | null) => {
    current.current?.abort();
    setBusy(false);
    setNotice(next);
  }, []);

  const run = useCallback(
    async (wording: DeliveryWording, queue: () => Promise<QueuedDelivery>) => {
      current.current?.abort();
      const control = new AbortController();
      current.current = control;
      const stillCurrent = () => !control.signal.aborted;
      setBusy(true);
      setNotice({ type: 'info', title: wording.running, running: true });
      let deliveryId: string;
      try {
        deliveryId = (await queue()).deliveryId;
      } catch (error) {
        if (stillCurrent()) {
          setNotice({ type: 'error', title: `${wording.refused}: ${messageOf(error)}` });
          setBusy(false);
        }
        return;
      }
      onChangeRef.current();
      if (!stillCurrent()) return;
      if (!webhookActive) {
        setNotice({
          type: 'info',
          title: `${wording.subject} is queued. The webhook is inactive: it goes out once the webhook is enabled again.`,
          deliveryId,
        });
        setBusy(false);
        return;
      }
      setNotice({ type: 'info', title: wording.running, running: true, deliveryId });
      try {
        const outcome = await watchFirstAttempt(api, webhookId, deliveryId, control.signal);
        if (!stillCurrent()) return;
        onChangeRef.current();
        if (outcome.kind === 'delivered') {
          setNotice({
            type: 'success',
            title: `${wording.subject} was delivered: the receiver answered ${outcome.delivery.statusCode ?? 'without a status'}.`,
            deliveryId,
          });
        } else if (outcome.kind === 'failed') {
          setNotice({ type: 'error', title: `${wording.subject} failed: ${describeFailure(outcome.delivery)}.`, deliveryId });
        } else {
          setNotice({ type: 'info', title: `${wording.subject} is queued but has not been sent yet.`, deliveryId });
        }
      } catch (error) {
        if (stillCurrent()) {
          setNotice({ type: 'warning', title: `${wording.subject} is queued; its outcome could not be read: ${messageOf(error)}`, deliveryId });
        }
      } finally {
        if (stillCurrent()) setBusy(false);
      }
    },
    [api, webhookId, webhookActive],
  );

  return { notice, busy, run, show };
}

/** The notice as an alert the reader can dismiss, with the delivery one click away. */
export function OperationNotice({
  notice,
  onClose,
  onView,
  viewLabel = 'Open delivery',
}: {
  notice: Notice | null;
  onClose(): void;
  onView?: (deliveryId: string) => void;
  viewLabel?: string;
}) {
  // One live region that stays in the page, so screen readers hear every change of it.
  return (
    <div role="status" aria-live="polite" className="operation-notice">
      {notice && (
        <Alert
          type={notice.type}
          showIcon
          icon={notice.running ? <Spin size="small" /> : undefined}
          className="block-gap"
          title={notice.running ? <span className="notice-running">{notice.title}</span> : notice.title}
          closable={notice.running ? false : { 'aria-label': 'Dismiss' }}
          onClose={onClose}
          action={
            notice.deliveryId && onView ? (
              <Button size="small" onClick={() => onView(notice.deliveryId!)}>
                {viewLabel}
              </Button>
            ) : undefined
          }
        />
      )}
    </div>
  );
}
